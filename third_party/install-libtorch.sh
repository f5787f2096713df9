#!/usr/bin/env bash
# Makes libtorch available to cgo, and says which one it found.
#
#   eval "$(bash third_party/install-libtorch.sh)"
#
# Without LIBTORCH: uses Debian's libtorch (headers under /usr/include,
# libraries on the default search path), installing libtorch-dev with apt-get
# when no libtorch headers are there. Debian's CUDA build (libtorch-cuda-dev,
# trixie contrib) is used as it is when installed.
#
# With LIBTORCH=/path/to/libtorch (an unpacked libtorch zip from pytorch.org,
# e.g. a CUDA build), or LIBTORCH=pytorch (the libtorch inside the PyTorch
# package of python3: its torch/include and torch/lib): checks the tree and
# prints, on stdout, the exports of CGO_CPPFLAGS, CGO_CXXFLAGS (the C++ ABI
# of that build), CGO_LDFLAGS and LD_LIBRARY_PATH that select it.
#
# CUDA needs no build flag: the binary loads libtorch_cuda at start-up from
# the folder libtorch_cpu came from. CUDA graphs (train's -cuda-graphs) also
# need CUDA's own headers at build time: where the libtorch has CUDA and
# cuda_runtime_api.h is found (third_party/cuda-headers.sh: $CUDA_HOME,
# /usr/local/cuda, /usr/include, or the nvidia-* Python packages beside
# PyTorch), the exports also define
# TINYDIGITS_CUDA_GRAPHS, add that include folder and link libtorch_cuda and
# libc10_cuda. Where it is not found, training on the GPU runs eagerly and
# the script says so.
#
# Messages go to stderr, so the eval above sees only the exports. Idempotent.
set -euo pipefail

say() { echo "install-libtorch: $*" >&2; }
die() { say "error: $*"; exit 2; }

header_version() { # prints the version in a torch/version.h
  sed -n 's/^ *"\([0-9][0-9.]*\)".*/\1/p; s/^#define TORCH_VERSION "\(.*\)"/\1/p' "$1" | head -n 1
}

here=$(cd "$(dirname "$0")" && pwd)

if [ -n "${LIBTORCH:-}" ]; then
  site=""
  if [ "$LIBTORCH" = pytorch ]; then
    command -v python3 >/dev/null 2>&1 || die "LIBTORCH=pytorch needs python3 with PyTorch"
    LIBTORCH=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null) ||
      die "LIBTORCH=pytorch: python3 cannot import torch"
    site=$(dirname "$LIBTORCH")
  fi
  root=$(cd "$LIBTORCH" 2>/dev/null && pwd) || die "LIBTORCH=$LIBTORCH is not a folder"
  api="$root/include/torch/csrc/api/include"
  [ -f "$api/torch/torch.h" ] || die "$root has no include/torch/csrc/api/include/torch/torch.h; point LIBTORCH at the unpacked libtorch/ folder (or PyTorch's torch/ folder, whose wheel has include/)"
  [ -f "$root/lib/libtorch.so" ] || die "$root/lib/libtorch.so is missing"
  version=$(cat "$root/build-version" 2>/dev/null || header_version "$api/torch/version.h")
  # The C++ ABI the library was built with: the cxx11 one names
  # std::__cxx11 in its symbols; older PyTorch wheels and the "pre-cxx11"
  # zips do not, and code built against them must say so.
  abi=1
  if command -v nm >/dev/null 2>&1 && ! nm -D --defined-only "$root/lib/libc10.so" 2>/dev/null | grep '__cxx11' >/dev/null; then
    abi=0
  fi
  cppflags="-I$root/include -I$api"
  ldflags="-L$root/lib -Wl,-rpath,$root/lib"
  cuda="without CUDA"
  if [ -f "$root/lib/libtorch_cuda.so" ]; then
    inc=""
    [ -n "$site" ] || site=$(dirname "$root")
    if inc=$(bash "$here/cuda-headers.sh" "$site"); then
      cppflags="$cppflags -I$inc -DTINYDIGITS_CUDA_GRAPHS"
      ldflags="$ldflags -ltorch_cuda -lc10_cuda"
      cuda="with CUDA and CUDA graphs (CUDA headers from $inc)"
    else
      cuda="with CUDA (loaded at start-up); no cuda_runtime_api.h in \$CUDA_HOME, /usr/local/cuda, /usr/include or beside PyTorch, so no CUDA graphs: the GPU trains eagerly"
    fi
  fi
  say "libtorch $version from $root, $cuda"
  echo "export CGO_CPPFLAGS=\"$cppflags\""
  echo "export CGO_CXXFLAGS=\"-g -O2 -D_GLIBCXX_USE_CXX11_ABI=$abi\""
  echo "export CGO_LDFLAGS=\"$ldflags\""
  echo "export LD_LIBRARY_PATH=\"$root/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
  exit 0
fi

api=/usr/include/torch/csrc/api/include
need=()
[ -f "$api/torch/torch.h" ] || need+=(libtorch-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 ||
    die "libtorch headers not found and this is not a Debian system; install libtorch and set LIBTORCH (see third_party/README.md)"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "installing ${need[*]} needs root (or sudo)"
    sudo=(sudo)
  fi
  say "installing ${need[*]} with apt-get"
  "${sudo[@]}" apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
[ -f "$api/torch/torch.h" ] || die "libtorch-dev is installed but $api/torch/torch.h is missing"
libdir=$(dirname "$(g++ -print-file-name=libtorch.so)")
if [ -f "$libdir/libtorch_cuda.so" ]; then
  # Debian's CUDA build (libtorch-cuda-dev): CUDA's headers come with
  # nvidia-cuda-dev, which it depends on.
  pkg=$(dpkg-query -W -f='${Version}' libtorch-cuda-dev 2>/dev/null || echo unknown)
  if inc=$(bash "$here/cuda-headers.sh"); then
    say "libtorch $(header_version "$api/torch/version.h") (Debian libtorch-cuda-dev $pkg), with CUDA and CUDA graphs"
    echo "export CGO_CPPFLAGS=\"-I$inc -DTINYDIGITS_CUDA_GRAPHS\""
    echo "export CGO_LDFLAGS=\"-ltorch_cuda -lc10_cuda\""
  else
    say "libtorch $(header_version "$api/torch/version.h") (Debian libtorch-cuda-dev $pkg), with CUDA (loaded at start-up); no cuda_runtime_api.h (nvidia-cuda-dev), so no CUDA graphs"
  fi
  exit 0
fi
pkg=$(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || echo unknown)
say "libtorch $(header_version "$api/torch/version.h") (Debian libtorch-dev $pkg), CPU only"
