#!/usr/bin/env bash
# Checks that the shim compiles against libtorch 2.x, the line the CUDA image
# (Dockerfile.cuda) and PyTorch's packages build with, while this machine has
# Debian bookworm's libtorch 1.13 and no CUDA:
#
#   1. the shim's translation units (torch/*.cc, found by pattern) against
#      Debian trixie's libtorch-dev (2.6, CPU);
#   2. the same with CUDA graphs
#      (-DTINYDIGITS_CUDA_GRAPHS) against trixie's libtorch-cuda-dev (2.6,
#      contrib) and the CUDA headers it needs (nvidia-cuda-dev, non-free),
#      and that shim_graph.cc calls nothing in the CUDA runtime itself (the
#      binary must link without naming it: its file name differs between
#      libtorch builds).
#
#   bash scripts/check-libtorch2.sh
#
# The packages come with apt-get into a scratch folder (its own sources list,
# lists and cache under $CHECK_DIR, default /tmp/tinydigits-libtorch2;
# nothing is installed into the system) and are unpacked with dpkg -x; of
# nvidia-cuda-dev (about 900 MB) only usr/include is kept. Each compile fails
# if any libtorch header came from the system's 1.13 tree instead. A second
# run reuses the downloads.
#
# Exit status: 0 compiles, 1 does not, 2 bad set-up, 3 skipped because the
# packages could not be fetched (no network): scripts/test.sh treats 3 as a
# skip with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "check-libtorch2: $*" >&2; }
dir=${CHECK_DIR:-/tmp/tinydigits-libtorch2}
suite=${LIBTORCH2_SUITE:-trixie}
for cmd in apt-get dpkg dpkg-deb tar g++ nm; do
  command -v "$cmd" >/dev/null 2>&1 || { say "error: $cmd is needed"; exit 2; }
done

apt_opts=(
  -o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State=$dir" -o "Dir::State::Lists=$dir/lists" -o Dir::State::status=/dev/null
  -o "Dir::Cache=$dir/cache" -o Dir::Etc::Preferences=/dev/null
  -o "Dir::Etc::PreferencesParts=$dir/preferences.d"
  -o APT::Sandbox::User=root -o Debug::NoLocking=1
)
updated=""
fetch() { # fetch ROOT PACKAGE [headers-only]: unpacks PACKAGE into ROOT
  local root=$1 pkg=$2 deb
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/preferences.d" "$root"
  if [ -z "$updated" ]; then
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main contrib non-free" >"$dir/sources.list"
    say "fetching Debian $suite's package lists into $dir"
    apt-get "${apt_opts[@]}" -q update >"$dir/apt.log" 2>&1 || return 1
    updated=1
  fi
  say "fetching $pkg"
  rm -f "$dir/${pkg}"_*.deb
  (cd "$dir" && apt-get "${apt_opts[@]}" -q download "$pkg" >>"$dir/apt.log" 2>&1) || return 1
  deb=$(ls "$dir/${pkg}"_*.deb)
  if [ "${3:-}" = headers-only ]; then
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$root" --wildcards './usr/include/*'
  else
    dpkg -x "$deb" "$root"
  fi
  rm -f "$deb"
}
skip() {
  say "skipped: could not fetch $1 from Debian $suite (no network?); see $dir/apt.log"
  exit 3
}

cpu="$dir/root"
cuda="$dir/root-cuda"
[ -f "$cpu/usr/include/torch/csrc/api/include/torch/torch.h" ] || fetch "$cpu" libtorch-dev || skip libtorch-dev
if [ ! -f "$cuda/usr/include/ATen/cuda/CUDAGraph.h" ] || [ ! -f "$cuda/usr/include/cuda_runtime_api.h" ]; then
  rm -rf "$cuda"
  fetch "$cuda" libtorch-cuda-dev || skip libtorch-cuda-dev
  fetch "$cuda" nvidia-cuda-dev headers-only || skip nvidia-cuda-dev
fi

version_of() {
  sed -n 's/^#define TORCH_VERSION "\(.*\)"/\1/p; s/^ *"\([0-9][0-9.]*\)".*/\1/p' \
    "$1/usr/include/torch/csrc/api/include/torch/version.h" | head -n 1
}

# compile ROOT NAME FILE [flags...]: compiles FILE against ROOT's headers
# into $dir/NAME.o, listing every header opened in $dir/NAME.log.
compile() {
  local root=$1 name=$2 file=$3 inc version log
  shift 3
  inc="$root/usr/include"
  version=$(version_of "$root")
  case "$version" in
    2.*) ;;
    *) say "error: the headers in $root are of version '$version', not 2.x"; exit 2 ;;
  esac
  log="$dir/$name.log"
  say "compiling $file against libtorch $version headers ($name)"
  if ! g++ -std=c++17 -c -o "$dir/$name.o" -H -Wall -Wno-deprecated-declarations "$@" \
    -I"$inc" -I"$inc/torch/csrc/api/include" "$file" 2>"$log"; then
    grep -v '^\.' "$log" >&2 || true
    say "FAILED: $file does not compile against libtorch $version ($name)"
    exit 1
  fi
  # -H lists every header opened; none of libtorch's may come from /usr/include.
  if grep -E '^\.+ /usr/include/(ATen|c10|caffe2|torch)/' "$log" | head -n 3 | grep . >&2; then
    say "FAILED: the headers above came from the system's libtorch, not $version's"
    exit 1
  fi
  grep -v '^\.' "$log" | grep -v '^Multiple include guards' | grep -v '^/' >&2 || true
  say "ok: $file compiles against libtorch $version ($name, $(grep -c "^\.\+ $root" "$log") headers from it)"
}

# The shim's translation units by pattern (torch/*.cc: shim.cc holds every
# subject but the CUDA graphs): each against the CPU headers, and against
# the CUDA ones with CUDA graphs.
for f in torch/*.cc; do
  name=$(basename "$f" .cc)
  [ "$name" = shim_graph ] || compile "$cpu" "cpu-$name" "$f"
  compile "$cuda" "cuda-$name" "$f" -DTINYDIGITS_CUDA_GRAPHS
done
cp "$dir/cuda-shim_graph.o" "$dir/shim-graph.o"
nm -C --undefined-only "$dir/shim-graph.o" >"$dir/shim-graph.syms"
for sym in 'at::cuda::CUDAGraph::capture_begin' 'at::cuda::CUDAGraph::replay'; do
  grep -q "$sym" "$dir/shim-graph.syms" ||
    { say "FAILED: shim_graph.o does not call $sym: the CUDA graph code was not compiled"; exit 1; }
done
if nm --undefined-only "$dir/shim-graph.o" | grep -E ' U (cuda|cu)[A-Z]' >&2; then
  say "FAILED: shim_graph.o calls the CUDA runtime directly (above); call libtorch's functions instead"
  exit 1
fi
say "ok: shim_graph.cc captures through libtorch_cuda alone (no CUDA runtime symbol of its own)"
