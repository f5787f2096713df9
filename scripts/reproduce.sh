#!/usr/bin/env bash
# Reproduces the three steps of the study one after another (runs/step1-3)
# and writes runs/RESULTS.md beside the seed's figures. Extra arguments go to
# every train run, e.g. ./scripts/reproduce.sh -device cuda
#
# Safe to run again: a step already finished is reported and kept, an
# unfinished one is resumed; -overwrite retrains. $TINYDIGITS_RUNS replaces
# runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
setup
for arch in step1 step2 step3; do
  train_step "$arch" -quiet "$@"
done
go run ./scripts/results "$RUNS" > "$RUNS/RESULTS.md"
cat "$RUNS/RESULTS.md"
