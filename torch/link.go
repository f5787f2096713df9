//go:build !shimlib

package torch

// The default build compiles shim.cc into the package and links libtorch's
// CPU libraries: Debian's libtorch-dev, or another libtorch whose include
// and library folders come through CGO_CXXFLAGS and CGO_LDFLAGS
// (third_party/install-libtorch.sh prints them).

// #cgo LDFLAGS: -ltorch -ltorch_cpu -lc10
import "C"
