#!/usr/bin/env bash
# The test command. On a fresh Debian machine it installs what the tests
# need, then checks and tests everything:
#
#   installs   Debian's libtorch-dev 1.13.1 (third_party/install-libtorch.sh)
#              and python3-torch, the same libtorch for Python, for the
#              PyTorch round trip (TestPyTorchRoundTrip), with apt-get; the
#              Go modules, staticcheck among them, from the module proxy;
#              slurm-wlm and munge, with apt-get, as root, for a one-node
#              Slurm cluster whose daemons TestSlurmArray starts and stops
#              (skipped, saying why, where that cannot be done)
#   downloads  about 900 MB of Debian trixie packages (libtorch 2.6, CPU and
#              CUDA, and CUDA 12.4's headers) into /tmp, unpacked there and
#              not installed, to compile the shim against libtorch 2.x
#              (scripts/check-libtorch2.sh; skipped with a message where
#              Debian's archive cannot be reached)
#   checks     gofmt, go vet, staticcheck, every link of the Markdown pages
#              (scripts/doclinks), then every test under the race detector:
#              the fuzz tests run their seed corpus, and the PyTorch round
#              trip must run, not skip
#
# How long it takes on 2 cores is in README.md ("Run it").
#
#   bash scripts/test.sh            everything
#   bash scripts/test.sh -short     skips the long tests (training runs)
#   bash scripts/test.sh -run Conv  extra flags go to go test
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
use_libtorch
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
go run ./scripts/doclinks
status=0
bash scripts/check-libtorch2.sh || status=$?
case $status in
  0) ;;
  3) echo "test.sh: libtorch 2.x compile check skipped (no network); run scripts/check-libtorch2.sh where there is one" >&2 ;;
  *) exit 1 ;;
esac
# The limit guards against a hung test, not a slow machine: under the race
# detector train/engine's tests take most of the run, and longer where
# other work shares the cores.
go test -race -timeout 90m "$@" ./...
