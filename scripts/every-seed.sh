#!/usr/bin/env bash
# Reproduces docs/study.md's "Every seed": the validation sweeps that chose the
# recipes, then the test-set sweeps of the built-in recipes.
#
#   ./scripts/every-seed.sh              both (about 2 hours on 2 cores)
#   ./scripts/every-seed.sh validation   -holdout 5000 only: train on the first
#                                        55,000 training images, validate on
#                                        the last 5,000; seeds 1-4, the sweep's
#                                        default pool (one thread per run)
#   ./scripts/every-seed.sh test         step3 on the test set, seeds 1-5, one
#                                        run at a time at 2 threads (train's
#                                        default on 2 cores), then seed 1 of
#                                        step3 and tiny at one thread
#   ./scripts/every-seed.sh rate         step3 on the test set, seeds 1-12, the
#                                        sweep's default pool (one thread per
#                                        run): how many seeds hold 99.4%
#                                        (about 2 hours on 2 cores)
#
# Each sweep writes SWEEP.md, sweep.csv and accuracy.png in its folder under
# runs/every-seed/ (OUT=DIR for another). A sweep stopped with Ctrl-C resumes
# where it stopped when the script runs again; finished runs are skipped.
# The thread count is part of each result: libtorch sums in another order
# with another number of threads.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
stage=${1:-all}
case "$stage" in
  all | validation | test | rate) ;;
  *) echo "usage: $0 [all|validation|test|rate]" >&2; exit 2 ;;
esac
setup
go build -o bin/sweep ./sweep
out=${OUT:-runs/every-seed}

sweep() { bin/sweep "$@"; }

if [ "$stage" = rate ]; then
  sweep -arch step3 -seeds 1-12 -out "$out/test-rate"
  exit 0
fi

if [ "$stage" != test ]; then
  # Each averaging run also reports its trained weights: the same run
  # without averaging (raw_val_acc in metrics.csv, "trained weights" in
  # SWEEP.md).
  sweep -arch step3,tiny -seeds 1-4 -set holdout=5000 -set ema=0.999 -out "$out/val-ema"
  sweep -arch tiny -seeds 1-4 -set holdout=5000 -set ema=0.999 -set translate=0.05 -out "$out/val-tiny-translate"
  # BatchNorm statistics recomputed instead of averaged: the same training
  # as val-ema's tiny seeds 1 and 2, evaluated the other way.
  sweep -arch tiny -seeds 1-2 -set holdout=5000 -set ema=0.999 -set recompute-bn=true -out "$out/val-tiny-recompute-bn"
fi

if [ "$stage" != validation ]; then
  sweep -arch step3 -seeds 1-5 -jobs 1 -threads 2 -out "$out/test-step3"
  sweep -arch step3,tiny -seeds 1 -jobs 2 -threads 1 -out "$out/test-one-thread"
fi
