#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine
# (libtorch through third_party/, and Debian's python3-torch, the same
# libtorch 1.13, for the PyTorch round trip), then checks formatting, vets,
# runs staticcheck, checks that the shim also compiles against libtorch 2.x,
# CPU and CUDA with its CUDA graph code (scripts/check-libtorch2.sh, skipped
# with a message where Debian's trixie archive cannot be reached), and runs
# every test under the
# race detector: the fuzz tests run their seed corpus, and the PyTorch round
# trip must run, not skip.
#
#   bash scripts/test.sh            everything
#   bash scripts/test.sh -short     skips the long tests (training runs)
#   bash scripts/test.sh -run Conv  extra flags go to go test
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null 2>&1 || { echo "test.sh: Go is not installed (https://go.dev/dl/)" >&2; exit 2; }
eval "$(bash third_party/install-libtorch.sh)"
# PyTorch for Python, to check model.pt against PyTorch itself
# (TestPyTorchRoundTrip). Debian's python3, where apt-get installs it.
if ! /usr/bin/python3 -c "import torch, numpy" >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || { echo "test.sh: python3-torch is missing and this is not a Debian system" >&2; exit 2; }
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "test.sh: installing python3-torch with apt-get" >&2
  "${sudo[@]}" apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends python3-torch python3-numpy >&2
fi
export TINYDIGITS_REQUIRE_PYTORCH=1

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "test.sh: gofmt would change:" $unformatted >&2
  exit 1
fi
go vet ./...
go vet -tags shimlib ./torch
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
status=0
bash scripts/check-libtorch2.sh || status=$?
case $status in
  0) ;;
  3) echo "test.sh: libtorch 2.x compile check skipped (no network); run scripts/check-libtorch2.sh where there is one" >&2 ;;
  *) exit 1 ;;
esac
go test -race -timeout 40m "$@" ./...
