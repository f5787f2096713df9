package torch

// #include "shim.h"
import "C"

import "fmt"

// DType is a tensor's element type, with libtorch's numbering.
type DType int

// The element types tinydigits uses.
const (
	Uint8   DType = C.TT_UINT8
	Int64   DType = C.TT_INT64
	Float32 DType = C.TT_FLOAT32
	Float64 DType = C.TT_FLOAT64
	Bool    DType = C.TT_BOOL
)

// String gives PyTorch's name for the type.
func (d DType) String() string {
	switch d {
	case Uint8:
		return "uint8"
	case Int64:
		return "int64"
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// Element is a Go type that tensors can be made from and read back into.
type Element interface {
	float32 | float64 | int64 | uint8
}

func dtypeOf[E Element]() DType {
	var zero E
	switch any(zero).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int64:
		return Int64
	default:
		return Uint8
	}
}
