#!/usr/bin/env bash
# Makes libtorch available to cgo, and says which one it found.
#
#   eval "$(bash third_party/install-libtorch.sh)"
#
# Without LIBTORCH: uses Debian's libtorch-dev (headers under /usr/include,
# libraries on the default search path), installing it with apt-get when its
# headers are missing. Nothing needs exporting, so nothing goes to stdout.
#
# With LIBTORCH=/path/to/libtorch (an unpacked libtorch zip from pytorch.org,
# e.g. a CUDA build): checks the tree and prints, on stdout, the exports of
# CGO_CPPFLAGS, CGO_LDFLAGS and LD_LIBRARY_PATH that select it.
#
# Messages go to stderr, so the eval above sees only the exports. Idempotent.
set -euo pipefail

say() { echo "install-libtorch: $*" >&2; }
die() { say "error: $*"; exit 2; }

header_version() { # prints the version in a torch/version.h
  sed -n 's/^ *"\([0-9][0-9.]*\)".*/\1/p; s/^#define TORCH_VERSION "\(.*\)"/\1/p' "$1" | head -n 1
}

if [ -n "${LIBTORCH:-}" ]; then
  root=$(cd "$LIBTORCH" 2>/dev/null && pwd) || die "LIBTORCH=$LIBTORCH is not a folder"
  api="$root/include/torch/csrc/api/include"
  [ -f "$api/torch/torch.h" ] || die "$root has no include/torch/csrc/api/include/torch/torch.h; point LIBTORCH at the unpacked libtorch/ folder"
  [ -f "$root/lib/libtorch.so" ] || die "$root/lib/libtorch.so is missing"
  version=$(cat "$root/build-version" 2>/dev/null || header_version "$api/torch/version.h")
  cuda="without CUDA"
  [ -f "$root/lib/libtorch_cuda.so" ] && cuda="with CUDA (build with -tags cuda)"
  say "libtorch $version from $root, $cuda"
  echo "export CGO_CPPFLAGS=\"-I$root/include -I$api\""
  echo "export CGO_LDFLAGS=\"-L$root/lib -Wl,-rpath,$root/lib\""
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
pkg=$(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || echo unknown)
say "libtorch $(header_version "$api/torch/version.h") (Debian libtorch-dev $pkg), CPU only"
