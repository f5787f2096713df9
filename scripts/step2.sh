#!/usr/bin/env bash
# Trains step2 of the study with its recipe into runs/step2, after
# installing libtorch if it is missing. Extra arguments go to train, e.g.
#   ./scripts/step2.sh -seed 2 -device cuda
#
# Safe to run again: a finished run is reported and kept, an unfinished one
# is resumed; -overwrite retrains. $TINYDIGITS_RUNS replaces runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
setup
train_step step2 "$@"
