//go:build cuda && !shimlib

package torch

// The cuda build tag links libtorch's CUDA libraries and the CUDA runtime.
// libtorch registers its CUDA backend from static initialisers in
// libtorch_cuda, which nothing references by name: without
// --no-as-needed the linker drops the library and CUDA silently reports
// unavailable. TT_WITH_CUDA lets shim.cc ask the CUDA runtime for the GPU's
// name and memory. The paths are those of the nvidia/cuda images; add others
// through CGO_CXXFLAGS and CGO_LDFLAGS.

// #cgo CXXFLAGS: -DTT_WITH_CUDA -I/usr/local/cuda/include
// #cgo LDFLAGS: -L/usr/local/cuda/lib64 -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed -lcudart
import "C"
