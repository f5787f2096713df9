//go:build !cuda && !shimlib

package torch

// cudaLinked says that this build links libtorch's CUDA libraries: not
// without the cuda tag.
const cudaLinked = false
