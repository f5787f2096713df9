//go:build cuda && !shimlib

package torch

// The cuda build tag links libtorch's CUDA libraries. libtorch registers its
// CUDA backend from static initialisers in libtorch_cuda, which nothing
// references by name: without --no-as-needed the linker drops the library
// and CUDA silently reports unavailable.

// #cgo LDFLAGS: -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed
import "C"

// cudaLinked says that this build links libtorch's CUDA libraries.
const cudaLinked = true
