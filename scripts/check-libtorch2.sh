#!/usr/bin/env bash
# Checks that torch/shim.cc compiles against libtorch 2.x, the line the CUDA
# image (Dockerfile.cuda) builds with, while this machine has Debian
# bookworm's libtorch 1.13.
#
#   bash scripts/check-libtorch2.sh
#
# Fetches Debian trixie's libtorch-dev (2.6) with apt-get into a scratch
# folder (its own sources list, lists and cache under $CHECK_DIR, default
# /tmp/tinydigits-libtorch2; nothing is installed into the system), unpacks
# it with dpkg -x and compiles shim.cc with -fsyntax-only against those
# headers. It fails if any libtorch header came from the system's 1.13 tree
# instead. A second run reuses the download.
#
# Exit status: 0 compiles, 1 does not, 2 bad set-up, 3 skipped because the
# package could not be fetched (no network): scripts/test.sh treats 3 as a
# skip with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "check-libtorch2: $*" >&2; }
dir=${CHECK_DIR:-/tmp/tinydigits-libtorch2}
suite=${LIBTORCH2_SUITE:-trixie}
for cmd in apt-get dpkg g++; do
  command -v "$cmd" >/dev/null 2>&1 || { say "error: $cmd is needed"; exit 2; }
done

root="$dir/root"
inc="$root/usr/include"
if [ ! -f "$inc/torch/csrc/api/include/torch/torch.h" ]; then
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/preferences.d"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$dir/sources.list"
  apt_opts=(
    -o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State=$dir" -o "Dir::State::Lists=$dir/lists" -o Dir::State::status=/dev/null
    -o "Dir::Cache=$dir/cache" -o Dir::Etc::Preferences=/dev/null
    -o "Dir::Etc::PreferencesParts=$dir/preferences.d"
    -o APT::Sandbox::User=root -o Debug::NoLocking=1
  )
  say "fetching Debian $suite's libtorch-dev into $dir"
  if ! apt-get "${apt_opts[@]}" -q update >"$dir/apt.log" 2>&1 ||
    ! (cd "$dir" && apt-get "${apt_opts[@]}" -q download libtorch-dev >>"$dir/apt.log" 2>&1); then
    say "skipped: could not fetch libtorch-dev from Debian $suite (no network?); see $dir/apt.log"
    exit 3
  fi
  rm -rf "$root"
  dpkg -x "$dir"/libtorch-dev_*.deb "$root"
fi
version=$(sed -n 's/^#define TORCH_VERSION "\(.*\)"/\1/p; s/^ *"\([0-9][0-9.]*\)".*/\1/p' \
  "$inc/torch/csrc/api/include/torch/version.h" | head -n 1)
case "$version" in
  2.*) ;;
  *) say "error: $suite's libtorch-dev has headers of version '$version', not 2.x"; exit 2 ;;
esac

say "compiling torch/shim.cc against libtorch $version headers"
log="$dir/compile.log"
if ! g++ -std=c++17 -fsyntax-only -H -Wall -Wno-deprecated-declarations \
  -I"$inc" -I"$inc/torch/csrc/api/include" torch/shim.cc 2>"$log"; then
  grep -v '^\.' "$log" >&2 || true
  say "FAILED: torch/shim.cc does not compile against libtorch $version"
  exit 1
fi
# -H lists every header opened; none of libtorch's may come from /usr/include.
if grep -E '^\.+ /usr/include/(ATen|c10|caffe2|torch)/' "$log" | head -n 3 | grep . >&2; then
  say "FAILED: the headers above came from the system's libtorch, not $version's"
  exit 1
fi
grep -v '^\.' "$log" | grep -v '^Multiple include guards' | grep -v '^/' >&2 || true
say "ok: torch/shim.cc compiles against libtorch $version ($(grep -c "^\.\+ $root" "$log") headers from it)"
