# Shared by the step scripts: set-up on a fresh machine, then training.
# Source it from the repository root.
#
# The runs go under runs/, or under $TINYDIGITS_RUNS when it is set.
RUNS=${TINYDIGITS_RUNS:-runs}

# use_libtorch installs libtorch when missing (third_party/) and sets cgo
# up for it. A failed install stops the script with the installer's own
# message.
use_libtorch() {
  command -v go >/dev/null 2>&1 || { echo "$0: Go is not installed (https://go.dev/dl/)" >&2; exit 2; }
  local exports
  exports=$(bash third_party/install-libtorch.sh) || exit $?
  eval "$exports"
}

# scratch sets $work to a new temporary folder, removed when the script
# exits.
scratch() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
}

# setup is use_libtorch and a built bin/train.
setup() {
  use_libtorch
  go build -o bin/train ./train
}

# train_step ARCH [train flags...] trains ARCH into $RUNS/ARCH with its
# recipe, and can be run again: a finished run there is reported and kept,
# an unfinished one is resumed (train's -continue); -overwrite retrains.
train_step() {
  local arch=$1
  shift
  bin/train -arch "$arch" -out "$RUNS/$arch" -continue "$@"
}
