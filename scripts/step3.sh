#!/usr/bin/env bash
# Trains step3 of the study with its recipe into runs/step3, after
# installing libtorch if it is missing. Extra arguments go to train, e.g.
#   ./scripts/step3.sh -seed 2 -device cuda
#
# Safe to run again: a finished run is reported and kept, an unfinished one
# is resumed; -overwrite retrains. $TINYDIGITS_RUNS replaces runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
setup
train_step step3 "$@"
