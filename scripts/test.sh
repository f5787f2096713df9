#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine
# (libtorch through third_party/), then checks formatting, vets, checks that
# torch/shim.cc also compiles against libtorch 2.x (scripts/check-libtorch2.sh,
# skipped with a message where Debian's trixie archive cannot be reached), and
# runs every test under the race detector.
#
#   bash scripts/test.sh            everything
#   bash scripts/test.sh -short     skips the long tests (training runs)
#   bash scripts/test.sh -run Conv  extra flags go to go test
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null 2>&1 || { echo "test.sh: Go is not installed (https://go.dev/dl/)" >&2; exit 2; }
eval "$(bash third_party/install-libtorch.sh)"

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "test.sh: gofmt would change:" $unformatted >&2
  exit 1
fi
go vet ./...
go vet -tags shimlib ./torch
status=0
bash scripts/check-libtorch2.sh || status=$?
case $status in
  0) ;;
  3) echo "test.sh: libtorch 2.x compile check skipped (no network); run scripts/check-libtorch2.sh where there is one" >&2 ;;
  *) exit 1 ;;
esac
go test -race "$@" ./...
