# Shared by the step scripts: set-up on a fresh machine, then training.
# Source it from the repository root.

# setup installs libtorch when missing (third_party/) and builds bin/train.
setup() {
  command -v go >/dev/null 2>&1 || { echo "$0: Go is not installed (https://go.dev/dl/)" >&2; exit 2; }
  eval "$(bash third_party/install-libtorch.sh)"
  go build -o bin/train ./train
}

# train_step ARCH [train flags...] trains ARCH into runs/ARCH with its recipe.
train_step() {
  local arch=$1
  shift
  bin/train -arch "$arch" -out "runs/$arch" "$@"
}
