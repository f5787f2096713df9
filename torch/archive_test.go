package torch_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/torchtest"
	"github.com/tinydigits/tinydigits/torch"
)

// The real files of the fuzz corpus: a model.pt and a checkpoint.pt of a
// one-epoch tiny run, and two files PyTorch's own torch.save wrote.
var realFiles = []string{
	"testdata/tiny_model.pt",
	"testdata/tiny_checkpoint.pt",
	"testdata/python_tensors.pt",
	"testdata/python_ordereddict.pt",
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCheckArchiveAcceptsRealFiles(t *testing.T) {
	for _, f := range realFiles {
		if err := torch.CheckArchive(readFile(t, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// And what SaveDict writes now, with strings and an empty tensor.
	w := keep(t)(torch.FromSlice([]float32{}, 0))
	data, err := torch.SaveDict([]torch.Named{{Name: "w", Tensor: w}}, []torch.Text{{Name: "meta", Value: "{}"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := torch.CheckArchive(data); err != nil {
		t.Errorf("SaveDict's output: %v", err)
	}
}

// entryAt names the zip entry whose data holds byte off, from the zip's own
// directory as Python's zipfile or Go's archive/zip read it.
func entryAt(t *testing.T, data []byte, off int64) string {
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.File {
		start, _ := f.DataOffset()
		if off >= start && off < start+int64(f.CompressedSize64) {
			return f.Name
		}
	}
	return ""
}

func TestCheckArchiveRefuses(t *testing.T) {
	model := readFile(t, "testdata/tiny_model.pt")
	r, err := zip.NewReader(bytes.NewReader(model), int64(len(model)))
	if err != nil {
		t.Fatal(err)
	}
	// A byte in the middle of the largest tensor's data.
	big := slices.MaxFunc(r.File, func(a, b *zip.File) int { return int(a.CompressedSize64) - int(b.CompressedSize64) })
	start, _ := big.DataOffset()
	flipAt := start + int64(big.CompressedSize64)/2
	flipped := slices.Clone(model)
	flipped[flipAt] ^= 0x40
	// A local header's name, which libtorch never reads: the first entry's
	// name starts 30 bytes into the file.
	renamed := slices.Clone(model)
	renamed[30] ^= 0x20

	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"empty", "empty file", nil},
		{"legacy", "legacy (non-zip) torch.save file", readFile(t, "testdata/python_legacy.pt")},
		{"text", "not a PyTorch file", []byte("this is not a checkpoint")},
		{"first 100 bytes", "truncated or corrupt: the zip's central directory is missing", model[:100]},
		{"all but the last byte", "truncated or corrupt: the zip's central directory is missing", model[:len(model)-1]},
		{"two bytes", "truncated or corrupt", model[:2]},
		{"tensor byte", "entry " + entryAt(t, model, flipAt) + ": CRC mismatch: the file is corrupt", flipped},
		{"local name", "local header does not match the directory", renamed},
		{"trailing bytes", "end record is missing or is not the end of the file", append(slices.Clone(model), 0)},
	} {
		err := torch.CheckArchive(c.data)
		var fe *torch.FileError
		if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a FileError with %q", c.name, err, c.want)
		}
		if strings.Contains(fmt.Sprint(err), "\n") {
			t.Errorf("%s: error spans lines: %q", c.name, err)
		}
	}
	if entryAt(t, model, flipAt) != big.Name || !strings.HasPrefix(big.Name, "archive/data/") {
		t.Errorf("the flipped byte is in %q, not a tensor's data", entryAt(t, model, flipAt))
	}
}

func TestLoadDictFileNamesThePath(t *testing.T) {
	path := t.TempDir() + "/model.pt"
	model := readFile(t, "testdata/tiny_model.pt")
	if err := os.WriteFile(path, model[:len(model)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := torch.LoadDictFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": truncated or corrupt") {
		t.Errorf("got %v", err)
	}
}

// loaded is a dict as LoadDict returns it, with each tensor as its dtype,
// shape and raw values, for comparing files.
type loaded struct {
	names  []string
	shapes [][]int64
	values []string
	texts  []torch.Text
}

func load(data []byte) (*loaded, error) {
	items, texts, err := torch.LoadDict(data)
	if err != nil {
		return nil, err
	}
	l := &loaded{texts: texts}
	for _, it := range items {
		var v any
		switch it.Tensor.DType() {
		case torch.Float32:
			v, err = it.Tensor.Float32s()
		case torch.Float64:
			v, err = it.Tensor.Float64s()
		case torch.Int64:
			v, err = it.Tensor.Int64s()
		case torch.Uint8:
			v, err = it.Tensor.Uint8s()
		default:
			err = fmt.Errorf("dtype %v", it.Tensor.DType())
		}
		l.names = append(l.names, it.Name)
		l.shapes = append(l.shapes, it.Tensor.Shape())
		l.values = append(l.values, fmt.Sprintf("%v %v", it.Tensor.DType(), v))
		it.Tensor.Close()
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *loaded) equal(m *loaded) bool {
	return slices.Equal(l.names, m.names) && slices.Equal(l.values, m.values) && slices.Equal(l.texts, m.texts) &&
		slices.EqualFunc(l.shapes, m.shapes, slices.Equal)
}

// FuzzLoadDict feeds LoadDict (CheckArchive, then libtorch's reader)
// damaged versions of real files. It must never crash, and a file it
// accepts must hold exactly what one of the real files holds: a change to
// the tensor data is always refused. The seed corpus (the real files, cuts
// at every 1/16 of their length and byte flips) runs as a plain test; go
// test -fuzz=FuzzLoadDict ./torch explores further.
func FuzzLoadDict(f *testing.F) {
	var originals []*loaded
	for _, name := range realFiles {
		data := readFile(f, name)
		if l, err := load(data); err == nil {
			originals = append(originals, l)
		} else if !strings.Contains(name, "ordereddict") { // libtorch cannot read that one
			f.Fatalf("%s: %v", name, err)
		}
		for _, b := range torchtest.Damaged(data, 1) {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := load(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			return
		}
		for _, o := range originals {
			if got.equal(o) {
				return
			}
		}
		t.Errorf("accepted a file that holds none of the real files' contents: %v", got.names)
	})
}
