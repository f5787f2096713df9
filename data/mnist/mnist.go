package mnist

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
)

// Set is one split of MNIST: N images of 28×28 bytes and their labels.
type Set struct {
	Pixels []byte  // N·28·28 bytes, image after image, row-major; 0 is background
	Labels []uint8 // N digits 0–9
}

// Len is the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// Image returns image i's 784 bytes (a view, not a copy).
func (s *Set) Image(i int) []byte { return s.Pixels[i*Rows*Cols : (i+1)*Rows*Cols] }

// Label returns image i's digit.
func (s *Set) Label(i int) uint8 { return s.Labels[i] }

// Split holds out the last n images: it returns the others and those n
// (views, not copies), e.g. a validation set carved from the training set.
// n must be in [0, Len).
func (s *Set) Split(n int) (rest, held *Set, err error) {
	if n < 0 || n >= s.Len() {
		return nil, nil, fmt.Errorf("mnist: cannot hold out %d of %d images", n, s.Len())
	}
	k := s.Len() - n
	rest = &Set{Pixels: s.Pixels[: k*Rows*Cols : k*Rows*Cols], Labels: s.Labels[:k:k]}
	held = &Set{Pixels: s.Pixels[k*Rows*Cols:], Labels: s.Labels[k:]}
	return rest, held, nil
}

// Subset returns the first n images (all of them when n ≤ 0 or n ≥ Len).
func (s *Set) Subset(n int) *Set {
	if n <= 0 || n >= s.Len() {
		return s
	}
	return &Set{Pixels: s.Pixels[:n*Rows*Cols], Labels: s.Labels[:n]}
}

// Dataset is MNIST's training and test splits, and where they came from.
type Dataset struct {
	Train, Test *Set
	Dir         string   // the folder the files were read from
	Verified    bool     // all four files are the official .gz files (MD5 checked)
	Warnings    []string // checksum mismatches: the data passed every structural check
}

// The standard file names, and the official MD5 sums of the gzip files
// (as torchvision lists them).
var files = []struct{ name, md5 string }{
	{"train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
	{"train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432"},
	{"t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3"},
	{"t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c"},
}

// FileNames lists the four files Load looks for (each also as NAME.gz).
func FileNames() []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.name
	}
	return out
}

// Load reads MNIST from dir, or from the GoMNIST module's copy when dir is
// empty. dir may hold the four files itself or in torchvision's layout,
// dir/MNIST/raw/; each file may be raw or gzip-compressed (NAME or NAME.gz).
func Load(dir string) (*Dataset, error) {
	found, err := find(dir)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Dir: filepath.Dir(found[0])}
	var data [4][]byte
	verified := 0
	for i, path := range found {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("mnist: %w", err)
		}
		data[i] = b
		if strings.HasSuffix(path, ".gz") {
			sum := md5.Sum(b)
			if got := hex.EncodeToString(sum[:]); got != files[i].md5 {
				ds.Warnings = append(ds.Warnings, fmt.Sprintf("%s: MD5 %s differs from the official %s; the data passed the structural checks and is used as it is", path, got, files[i].md5))
			} else {
				verified++
			}
		}
	}
	ds.Verified = verified == len(files)
	if ds.Train, err = readSet(found[0], data[0], found[1], data[1]); err != nil {
		return nil, err
	}
	if ds.Test, err = readSet(found[2], data[2], found[3], data[3]); err != nil {
		return nil, err
	}
	return ds, nil
}

// Copy copies the four files Load would read from dir ("" for the
// bundled files) into the folder to, as they are (raw or .gz), creating
// it: a copy that Load(to) reads as it reads dir. It returns the files
// written.
func Copy(dir, to string) ([]string, error) {
	found, err := find(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	var written []string
	for _, src := range found {
		dst := filepath.Join(to, filepath.Base(src))
		if err := copyFile(src, dst); err != nil {
			return nil, fmt.Errorf("mnist: copy %s: %w", src, err)
		}
		written = append(written, dst)
	}
	return written, nil
}

// copyFile copies src to dst atomically.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.WriteFunc(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

func readSet(imgPath string, imgData []byte, lblPath string, lblData []byte) (*Set, error) {
	pixels, n, err := ParseImages(imgData)
	if err != nil {
		return nil, fmt.Errorf("mnist: %s: %w", imgPath, err)
	}
	labels, err := ParseLabels(lblData)
	if err != nil {
		return nil, fmt.Errorf("mnist: %s: %w", lblPath, err)
	}
	if n != len(labels) {
		return nil, fmt.Errorf("mnist: %s holds %d images but %s holds %d labels", imgPath, n, lblPath, len(labels))
	}
	return &Set{Pixels: pixels, Labels: labels}, nil
}

// find is locate in dir, or in the bundled files' folder when dir is "".
func find(dir string) ([]string, error) {
	if dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return locate(dir)
}

// locate finds the four files in dir or dir/MNIST/raw, preferring the raw
// file when both NAME and NAME.gz exist.
func locate(dir string) ([]string, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("mnist: data folder: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("mnist: data folder %s is not a folder", dir)
	}
	for _, d := range []string{dir, filepath.Join(dir, "MNIST", "raw")} {
		var found, missing []string
		for _, f := range files {
			p := filepath.Join(d, f.name)
			switch {
			case exists(p):
				found = append(found, p)
			case exists(p + ".gz"):
				found = append(found, p+".gz")
			default:
				missing = append(missing, f.name+"[.gz]")
			}
		}
		if len(missing) == 0 {
			return found, nil
		}
		if len(found) > 0 {
			return nil, fmt.Errorf("mnist: %s lacks %s (it holds %d of the 4 files)", d, strings.Join(missing, ", "), len(found))
		}
	}
	return nil, fmt.Errorf("mnist: no MNIST files in %s or %s; expected %s (each raw or .gz)",
		dir, filepath.Join(dir, "MNIST", "raw"), strings.Join(FileNames(), ", "))
}

func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// ErrNoDefaultData is returned (wrapped) by DefaultDir when the GoMNIST
// module's files cannot be found.
var ErrNoDefaultData = errors.New("the bundled MNIST files were not found")
