//go:build !shimlib

package torch

// The default build compiles the shim's .cc files into the package and
// links libtorch's CPU libraries: Debian's libtorch, or another libtorch
// whose include and library folders come through CGO_CPPFLAGS and
// CGO_LDFLAGS (third_party/install-libtorch.sh prints them). CUDA needs no
// link flag (shim.cc loads libtorch_cuda at start-up); CUDA graphs add
// -DTINYDIGITS_CUDA_GRAPHS, CUDA's include folder and -ltorch_cuda
// -lc10_cuda through the same variables.

// #cgo LDFLAGS: -ltorch -ltorch_cpu -lc10
import "C"
