#!/usr/bin/env bash
# Two sweeps on one machine: as many one-run sweeps (-jobs 1 -threads 1) as
# there are cores, one after another, then side by side, in ABBA order;
# prints the wall times, the ratio, and the CPU each run was pinned to (from
# sweep.log). Pinned runs claim cores no other pinned run holds, so side by
# side they should spread over the cores and finish sooner together.
#
#   bash scripts/two-sweeps.sh            tiny, 2 epochs on 12,000 images
#   ARCH=step3 EPOCHS=1 bash scripts/two-sweeps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
use_libtorch
scratch
go build -o "$work/sweep" ./sweep
n=$(nproc)
arch=${ARCH:-tiny}
epochs=${EPOCHS:-2}
sweep() { # sweep NAME: one run
  "$work/sweep" -arch "$arch" -set subset=12000 -set epochs="$epochs" -set test-batch-size=1000 \
    -jobs 1 -threads 1 -out "$work/$1" >/dev/null 2>&1
}
now() { date +%s.%N; }
sequential() {
  local t0; t0=$(now)
  for i in $(seq 1 "$n"); do sweep "seq-$1-$i"; done
  awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }'
}
sidebyside() {
  local t0; t0=$(now)
  for i in $(seq 1 "$n"); do sweep "side-$1-$i" & done
  wait
  awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }'
}
echo "$n one-run sweeps of $arch ($epochs epochs on 12,000 images, 1 thread), $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
s1=$(sequential 1); p1=$(sidebyside 1); p2=$(sidebyside 2); s2=$(sequential 2)
printf '| order | one after another (s) | side by side (s) |\n|---|---|---|\n'
printf '| first | %.1f | %.1f |\n| second | %.1f | %.1f |\n' "$s1" "$p1" "$s2" "$p2"
awk -v s1="$s1" -v s2="$s2" -v p1="$p1" -v p2="$p2" 'BEGIN { printf "side by side finished %.2fx sooner (sums of both rounds)\n", (s1 + s2) / (p1 + p2) }'
echo "pinning of the side-by-side runs (sweep.log):"
grep -h "started" "$work"/side-*/sweep.log | sed 's/^/  /'
