#!/usr/bin/env bash
# Trains an arch with its recipe once per seed, one run after another, and
# tabulates best and last-3 accuracies per seed with their mean and standard
# deviation.
#
#   ./scripts/sweep.sh ARCH SEED... [-- TRAIN FLAGS...]
#   ./scripts/sweep.sh tiny 1 2 3
#   ./scripts/sweep.sh tiny 1 2 3 -- -holdout 5000 -lr 0.1
#
# Runs go to $SWEEP_OUT/seedN (default runs/sweep-ARCH); the table is printed
# and written to $SWEEP_OUT/SWEEP.md. A seed folder that already holds a run
# is refused, as train refuses it: pass -- -overwrite to replace them.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: ./scripts/sweep.sh ARCH SEED... [-- TRAIN FLAGS...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
arch=$1
shift
seeds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  [[ $1 =~ ^[0-9]+$ ]] || { echo "sweep.sh: seed '$1' is not a number" >&2; usage; }
  seeds+=("$1")
  shift
done
[ ${#seeds[@]} -gt 0 ] || usage
[ $# -gt 0 ] && shift # the --
out=${SWEEP_OUT:-runs/sweep-$arch}

source scripts/lib.sh
setup
bin/train -arch "$arch" -dry-run -quiet "$@" >/dev/null # bad flags fail here, before any run
mkdir -p "$out"
for seed in "${seeds[@]}"; do
  echo "== $arch, seed $seed ($out/seed$seed)"
  bin/train -arch "$arch" -seed "$seed" -out "$out/seed$seed" -quiet "$@"
done
go run ./scripts/sweep "$out" >"$out/SWEEP.md.tmp"
mv "$out/SWEEP.md.tmp" "$out/SWEEP.md"
echo
cat "$out/SWEEP.md"
