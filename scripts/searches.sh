#!/usr/bin/env bash
# Runs the searches of docs/search.md ("What the searches found"), each in
# its folder under runs/ (OUT=DIR for another). Stopped with Ctrl-C, each
# goes on where it stopped when the script runs again.
#
#   ./scripts/searches.sh side-by-side   searches/side-by-side.json (12
#                                        candidates around tiny, on 10,000
#                                        training images), then the full grid
#                                        of the same candidates (every one on
#                                        every seed to the end), then the two
#                                        set side by side (BENCHMARKS.md)
#   ./scripts/searches.sh under-4k       searches/under-4k.json: at most 4,000
#                                        parameters, around tiny, on the full
#                                        training set; then -final
#   ./scripts/searches.sh step3-budget   searches/step3-budget.json: at most
#                                        step3's 8,442 parameters; then -final
#   ./scripts/searches.sh frontier       searches/frontier-{2k,3k,6k}.json, each
#                                        then -final (its best on 10 fresh
#                                        validation seeds and 10 test seeds);
#                                        then the frontier over 2K-8K with
#                                        under-4k and step3-budget, from
#                                        their folders where they ran here,
#                                        else from searches/results
#                                        (<out>/frontier.png, FRONTIER.md)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
name=${1:-}
case "$name" in
  side-by-side | under-4k | step3-budget | frontier) ;;
  *) echo "usage: $0 side-by-side|under-4k|step3-budget|frontier" >&2; exit 2 ;;
esac
use_libtorch
go build -o bin/sweep ./sweep
out=${OUT:-runs}
if [ "$name" = frontier ]; then
  dirs=()
  for b in 2k 3k 6k; do
    bin/sweep -search "searches/frontier-$b.json" -out "$out/search-frontier-$b" -final
    dirs+=("$out/search-frontier-$b")
  done
  for done in under-4k step3-budget; do
    if [ -f "$out/search-$done/search.json" ]; then dirs+=("$out/search-$done"); else dirs+=("searches/results/$done"); fi
  done
  go run ./scripts/bench/frontier -out "$out/frontier.png" "${dirs[@]}" | tee "$out/FRONTIER.md"
  exit 0
fi
bin/sweep -search "searches/$name.json" -out "$out/search-$name"
if [ "$name" = side-by-side ]; then
  # The full grid: every candidate the search drew, every seed, to the end,
  # with the search's settings.
  archs=$(ls "$out/search-$name"/candidates/*.json | paste -sd, -)
  bin/sweep -arch "$archs" -seeds 1-2 -set holdout=5000 -set subset=10000 -out "$out/grid-$name"
  go run ./scripts/bench/searchgrid "$out/search-$name" "$out/grid-$name" | tee "$out/search-$name/SIDE-BY-SIDE.md"
  exit 0
fi
bin/sweep -search "searches/$name.json" -out "$out/search-$name" -final
