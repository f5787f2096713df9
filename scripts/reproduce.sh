#!/usr/bin/env bash
# Reproduces the three steps of the study one after another (runs/step1-3)
# and writes runs/RESULTS.md beside the seed's figures. Extra arguments go to
# every train run, e.g. ./scripts/reproduce.sh -device cuda
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
setup
for arch in step1 step2 step3; do
  train_step "$arch" -quiet "$@"
done
go run ./scripts/results runs > runs/RESULTS.md
cat runs/RESULTS.md
