#!/usr/bin/env bash
# Damages real run files and checks that every damaged one is refused in one
# line with exit status 2, with no crash and the folder unchanged:
# model.pt and checkpoint.pt of a one-epoch tiny run, each cut at every
# 1/50 of its length (49 cuts) and with 8 random bytes changed (50 copies,
# seeds SEED..SEED+49), through train -eval, train -resume (checkpoints)
# and predict -model (models).
#
#   bash scripts/damage-check.sh [SEED]     (default 1000; about 5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
use_libtorch
scratch
go build -o "$work/train" ./train
go build -o "$work/predict" ./predict
go run ./scripts/damage -write-digit "$work/digit.png"
"$work/train" -arch tiny -epochs 1 -subset 2000 -threads 1 -quiet -out "$work/run" >/dev/null
go run ./scripts/damage -train "$work/train" -predict "$work/predict" -run "$work/run" -digit "$work/digit.png" -seed "${1:-1000}" -work "$work/cases"
