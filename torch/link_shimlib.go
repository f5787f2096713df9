//go:build shimlib

package torch

// The shimlib build tag links a prebuilt libtinydigits_shim.so (the shim's
// .cc files compiled on their own, see scripts/build-shim.sh) instead of
// compiling them into the binary. The binary then names no libtorch library
// itself, so the same Go binary runs against whichever libtorch the shared
// library was built with: how scripts/gpu-check.sh runs Go binaries built on
// one machine against a GPU machine's libtorch. Its folder comes through
// CGO_LDFLAGS at build time and LD_LIBRARY_PATH at run time.

// #cgo LDFLAGS: -ltinydigits_shim
import "C"
