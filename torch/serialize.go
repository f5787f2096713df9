package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"unsafe"
)

// Text is a string entry of a saved dict.
type Text struct {
	Name, Value string
}

// SaveTensors pickles named tensors into bytes in PyTorch's torch.save format
// (a zip archive holding a pickled dict), so Python's torch.load reads them as
// a dict of name to tensor. Tensors are saved detached and from the CPU.
func SaveTensors(items []Named) ([]byte, error) { return SaveDict(items, nil) }

// SaveDict is SaveTensors with string entries after the tensors; Python's
// torch.load reads them as str values of the same dict.
func SaveDict(items []Named, texts []Text) ([]byte, error) {
	var tnames, snames, svalues strings.Builder
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
		tnames.WriteString(it.Name)
		tnames.WriteByte(0)
	}
	for _, t := range texts {
		if strings.IndexByte(t.Name, 0) >= 0 || strings.IndexByte(t.Value, 0) >= 0 {
			return nil, fmt.Errorf("torch: save: entry %q holds a NUL byte", t.Name)
		}
		snames.WriteString(t.Name)
		snames.WriteByte(0)
		svalues.WriteString(t.Value)
		svalues.WriteByte(0)
	}
	ctn, csn, csv := C.CString(tnames.String()), C.CString(snames.String()), C.CString(svalues.String())
	defer C.free(unsafe.Pointer(ctn))
	defer C.free(unsafe.Pointer(csn))
	defer C.free(unsafe.Pointer(csv))
	var data *C.char
	var n C.int64_t
	err := check("save", C.tt_save_dict(ctn, &hs[0], C.int64_t(len(items)), csn, csv, C.int64_t(len(texts)), &data, &n))
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
	items, texts, err := LoadDict(data)
	if err != nil {
		return nil, err
	}
	if len(texts) > 0 {
		for _, it := range items {
			it.Tensor.Close()
		}
		return nil, fmt.Errorf("torch: load: entry %q is a string, not a tensor (is this a checkpoint rather than a state dict?)", texts[0].Name)
	}
	return items, nil
}

// LoadDictFile reads the PyTorch file at path with LoadDict; every error
// starts with the path.
func LoadDictFile(path string) ([]Named, []Text, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err // *fs.PathError names the path
	}
	items, texts, err := LoadDict(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return items, texts, nil
}

// LoadDict reads a dict of tensors and strings, as SaveDict writes it. The
// bytes are checked by CheckArchive before libtorch sees them, so a
// truncated or corrupt file is a *FileError, never a crash or a silently
// wrong tensor.
func LoadDict(data []byte) ([]Named, []Text, error) {
	if err := CheckArchive(data); err != nil {
		return nil, nil, err
	}
	var tnames, snames, svalues *C.char
	var tensors *C.tt_tensor
	var n, m C.int64_t
	err := check("load", C.tt_load_dict((*C.char)(unsafe.Pointer(&data[0])), C.int64_t(len(data)),
		&tnames, &tensors, &n, &snames, &svalues, &m))
	runtime.KeepAlive(data)
	if err != nil {
		return nil, nil, explainLoadError(data, err)
	}
	items := importNamed(tnames, tensors, n)
	keys := splitStrings(snames, int(m))
	values := splitStrings(svalues, int(m))
	C.free(unsafe.Pointer(snames))
	C.free(unsafe.Pointer(svalues))
	texts := make([]Text, len(keys))
	for i := range keys {
		texts[i] = Text{Name: keys[i], Value: values[i]}
	}
	return items, texts, nil
}

// splitStrings reads n NUL-terminated strings laid end to end.
func splitStrings(p *C.char, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = C.GoString(p)
		p = (*C.char)(unsafe.Add(unsafe.Pointer(p), len(out[i])+1))
	}
	return out
}

// explainLoadError says what to do about the files PyTorch users most often
// hand over, where that is what libtorch refused: libtorch 1.13 cannot
// unpickle the OrderedDict that model.state_dict() returns, nor a whole
// pickled module. Anything else is libtorch's own message. (Every tensor's
// pickle names collections.OrderedDict, so only the object at the top of
// the pickle tells.)
func explainLoadError(data []byte, err error) error {
	top := topLevelClass(data)
	switch {
	case top == "collections.OrderedDict":
		return fmt.Errorf("torch: load: the file holds an OrderedDict, which libtorch cannot read; save a plain dict in Python: torch.save(dict(model.state_dict()), path) (%v)", err)
	case top != "":
		return fmt.Errorf("torch: load: the file holds a pickled %s object, not a dict of tensors; save a state dict in Python: torch.save(dict(model.state_dict()), path) (%v)", top, err)
	}
	return err
}

// topLevelClass is the class of the object a torch.save file pickles at its
// top, "module.Name", when the pickle (protocol 2, torch.save's) builds
// one from a class; "" for a plain dict, a list, another protocol or a
// file it cannot tell.
func topLevelClass(data []byte) string {
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return ""
	}
	for _, f := range r.File {
		if !strings.HasSuffix(f.Name, "/data.pkl") && f.Name != "data.pkl" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return ""
		}
		head := make([]byte, 256)
		n, _ := io.ReadFull(rc, head)
		rc.Close()
		head = head[:n]
		// PROTO 2, then GLOBAL "module\nname\n".
		if len(head) < 3 || head[0] != 0x80 || head[1] != 2 || head[2] != 'c' {
			return ""
		}
		parts := strings.SplitN(string(head[3:]), "\n", 3)
		if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
			return ""
		}
		class := parts[0] + "." + parts[1]
		if class == "torch.jit._pickle.restore_type_tag" {
			return "" // libtorch's own typed dict (torch::pickle_save)
		}
		return class
	}
	return ""
}
