#!/usr/bin/env bash
# Runs the searches of docs/search.md ("What the searches found"), each in
# its folder under runs/ (OUT=DIR for another), and the full grid of the
# first search's candidates beside it. Stopped with Ctrl-C, each goes on
# where it stopped when the script runs again.
#
#   ./scripts/searches.sh under-4k       searches/under-4k.json: at most 4,000
#                                        parameters, around tiny; then every
#                                        candidate it drew trained to the end
#                                        on the same seeds (the grid), and the
#                                        final step (-final)
#   ./scripts/searches.sh step3-budget   searches/step3-budget.json: at most
#                                        step3's 8,442 parameters; then -final
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
name=${1:-}
case "$name" in
  under-4k | step3-budget) ;;
  *) echo "usage: $0 under-4k|step3-budget" >&2; exit 2 ;;
esac
use_libtorch
go build -o bin/sweep ./sweep
out=${OUT:-runs}
bin/sweep -search "searches/$name.json" -out "$out/search-$name"
if [ "$name" = under-4k ]; then
  # The full grid: every candidate the search drew, every seed, to the end.
  archs=$(ls "$out/search-$name"/candidates/*.json | paste -sd, -)
  bin/sweep -arch "$archs" -seeds 1-2 -set holdout=5000 -out "$out/grid-$name"
fi
bin/sweep -search "searches/$name.json" -out "$out/search-$name" -final
