package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// SaveTensors pickles named tensors into bytes in PyTorch's torch.save format
// (a zip archive holding a pickled dict), so Python's torch.load reads them as
// a dict of name to tensor. Tensors are saved detached and from the CPU.
func SaveTensors(items []Named) ([]byte, error) {
	var names strings.Builder
	hs := make([]C.tt_tensor, len(items)+1) // +1: never empty, so &hs[0] is valid
	for i, it := range items {
		if strings.IndexByte(it.Name, 0) >= 0 {
			return nil, fmt.Errorf("torch: save: name %q holds a NUL byte", it.Name)
		}
		h, err := it.Tensor.handle()
		if err != nil {
			return nil, fmt.Errorf("torch: save: %s: %w", it.Name, err)
		}
		hs[i] = h
		names.WriteString(it.Name)
		names.WriteByte(0)
	}
	cnames := C.CString(names.String())
	defer C.free(unsafe.Pointer(cnames))
	var data *C.char
	var n C.int64_t
	err := check("save", C.tt_save_tensors(cnames, &hs[0], C.int64_t(len(items)), &data, &n))
	runtime.KeepAlive(items)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(data))
	return C.GoBytes(unsafe.Pointer(data), C.int(n)), nil
}

// LoadTensors reads bytes written by SaveTensors or by Python's
// torch.save(dict of name to tensor). The tensors are on the CPU, in the
// file's order; the caller closes them.
func LoadTensors(data []byte) ([]Named, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("torch: load: empty data")
	}
	var names *C.char
	var tensors *C.tt_tensor
	var n C.int64_t
	err := check("load", C.tt_load_tensors((*C.char)(unsafe.Pointer(&data[0])), C.int64_t(len(data)), &names, &tensors, &n))
	runtime.KeepAlive(data)
	if err != nil {
		return nil, err
	}
	return importNamed(names, tensors, n), nil
}
