#!/usr/bin/env bash
# Builds the shim's C++ (torch/*.cc, found by pattern) on its own into
# OUTDIR/libtinydigits_shim.so, for Go
# binaries built with -tags shimlib (see torch/link_shimlib.go): the binary
# names only this library, which in turn names the libtorch it was built
# against. No Go toolchain is needed here.
#
#   bash scripts/build-shim.sh OUTDIR
#
# Which libtorch, first that applies:
#   TORCH_DIR=/path     a folder with include/ and lib/ (an unpacked libtorch
#                       zip, or PyTorch's Python package folder)
#   python3 -c 'import torch'  the Python package's libtorch, when its folder
#                       has include/ (pip wheels do; Debian's python3-torch
#                       does not)
#   Debian's libtorch-dev (/usr/include, the default library path)
# Where that libtorch has CUDA (libtorch_cuda.so beside libtorch) and CUDA's
# headers are found (third_party/cuda-headers.sh: $CUDA_HOME, /usr/local/cuda,
# /usr/include or the nvidia-* Python packages beside PyTorch), the library
# is built with CUDA graphs (-DTINYDIGITS_CUDA_GRAPHS) and links
# libtorch_cuda; otherwise the shim loads libtorch_cuda at start-up and the
# GPU trains eagerly.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "build-shim: $*" >&2; }
die() { say "error: $*"; exit 2; }
[ $# -eq 1 ] || die "usage: bash scripts/build-shim.sh OUTDIR"
out=$1
mkdir -p "$out"
command -v g++ >/dev/null 2>&1 || die "g++ is needed"

abi=()
py_torch=""
if [ -z "${TORCH_DIR:-}" ] && command -v python3 >/dev/null 2>&1; then
  py_torch=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null || true)
  if [ -n "$py_torch" ] && [ -d "$py_torch/include" ]; then
    TORCH_DIR=$py_torch
    abi=("-D_GLIBCXX_USE_CXX11_ABI=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')")
  fi
fi
if [ -n "${TORCH_DIR:-}" ]; then
  [ -f "$TORCH_DIR/include/torch/csrc/api/include/torch/torch.h" ] || die "$TORCH_DIR has no include/torch/csrc/api/include/torch/torch.h"
  inc=(-I"$TORCH_DIR/include" -I"$TORCH_DIR/include/torch/csrc/api/include")
  lib=(-L"$TORCH_DIR/lib" -Wl,-rpath,"$TORCH_DIR/lib")
  libdir=$TORCH_DIR/lib
  where=$TORCH_DIR
else
  [ -f /usr/include/torch/csrc/api/include/torch/torch.h ] || die "no libtorch found: set TORCH_DIR, install PyTorch for python3, or run third_party/install-libtorch.sh"
  inc=(-I/usr/include/torch/csrc/api/include)
  lib=()
  libdir=$(dirname "$(g++ -print-file-name=libtorch.so)")
  where="Debian's libtorch-dev"
fi

cuda=()
cudalib=()
what="without CUDA"
if [ -f "$libdir/libtorch_cuda.so" ]; then
  what="with CUDA, loaded at start-up; no CUDA graphs (no cuda_runtime_api.h found)"
  site=""
  [ -z "${TORCH_DIR:-}" ] || site=$(dirname "$TORCH_DIR")
  if d=$(bash third_party/cuda-headers.sh "$site"); then
    cuda=(-I"$d" -DTINYDIGITS_CUDA_GRAPHS)
    cudalib=(-ltorch_cuda -lc10_cuda)
    what="with CUDA and CUDA graphs (CUDA headers from $d)"
  fi
fi

say "building $out/libtinydigits_shim.so against $where, $what"
build() { # the shim's translation units (torch/*.cc) compile side by side, then link
  local pids=() f ok=1 objs=()
  for f in torch/*.cc; do
    objs+=("$out/$(basename "$f" .cc).o")
    g++ "-std=$1" -O2 -fPIC -c -Wno-deprecated-declarations "${abi[@]}" "${inc[@]}" "${cuda[@]}" \
      -o "${objs[-1]}" "$f" &
    pids+=($!)
  done
  for f in "${pids[@]}"; do wait "$f" || ok=0; done
  [ "$ok" = 1 ] || return 1
  g++ -shared -o "$out/libtinydigits_shim.so" "${objs[@]}" \
    "${lib[@]}" "${cudalib[@]}" -ltorch -ltorch_cpu -lc10 -ldl
  rm -f "${objs[@]}"
}
# C++17 as the Go build uses; a libtorch whose headers need a newer standard
# gets C++20. Where the CUDA graph code does not build against these
# headers, the library is built without it: the GPU then trains eagerly,
# which beats no library at all (the log keeps the reason).
attempt() {
  build c++17 2>>"$out/build-shim.log" && return 0
  say "C++17 failed (see $out/build-shim.log); trying C++20"
  build c++20 2>>"$out/build-shim.log"
}
: >"$out/build-shim.log"
if ! attempt; then
  [ ${#cuda[@]} -gt 0 ] || { tail -n 20 "$out/build-shim.log" >&2; exit 1; }
  say "the CUDA graph code did not build (see $out/build-shim.log); building without CUDA graphs"
  cuda=()
  cudalib=()
  what="with CUDA, loaded at start-up; no CUDA graphs (their code did not build here)"
  attempt || { tail -n 20 "$out/build-shim.log" >&2; exit 1; }
fi
say "ok: $what"
