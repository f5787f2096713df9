package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idx builds an IDX file: magic, dimensions, body.
func idx(magic uint32, dims []uint32, body []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(body)
	return b.Bytes()
}

func gz(data []byte, level int) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, level)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// tinySet writes a valid 3-image training split and 2-image test split into
// dir, raw, and returns the file contents by name.
func tinySet(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	img := func(n int) []byte {
		body := make([]byte, n*Rows*Cols)
		for i := range body {
			body[i] = byte(i * 7)
		}
		return idx(imageMagic, []uint32{uint32(n), Rows, Cols}, body)
	}
	m := map[string][]byte{
		"train-images-idx3-ubyte": img(3),
		"train-labels-idx1-ubyte": idx(labelMagic, []uint32{3}, []byte{5, 0, 9}),
		"t10k-images-idx3-ubyte":  img(2),
		"t10k-labels-idx1-ubyte":  idx(labelMagic, []uint32{2}, []byte{7, 2}),
	}
	for name, data := range m {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestLoadBundledMNIST(t *testing.T) {
	ds, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.Len() != 60000 || ds.Test.Len() != 10000 {
		t.Fatalf("train %d, test %d images", ds.Train.Len(), ds.Test.Len())
	}
	if len(ds.Warnings) != 0 || !ds.Verified {
		t.Errorf("official files: verified %v, warnings %v", ds.Verified, ds.Warnings)
	}
	// Class counts of the official splits (as published with the data set and
	// printed by torchvision's MNIST targets.bincount()).
	wantTrain := [10]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}
	wantTest := [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
	for _, c := range []struct {
		name string
		set  *Set
		want [10]int
	}{{"train", ds.Train, wantTrain}, {"test", ds.Test, wantTest}} {
		var got [10]int
		for _, l := range c.set.Labels {
			got[l]++
		}
		if got != c.want {
			t.Errorf("%s class counts %v, want %v", c.name, got, c.want)
		}
	}
	if ds.Train.Label(0) != 5 || ds.Test.Label(0) != 7 {
		t.Errorf("first labels %d and %d, want 5 and 7", ds.Train.Label(0), ds.Test.Label(0))
	}
	// The first training image (a 5) has 166 non-zero pixels, in rows 5–24.
	nz, top, bottom := 0, Rows, 0
	for i, p := range ds.Train.Image(0) {
		if p != 0 {
			nz++
			top, bottom = min(top, i/Cols), max(bottom, i/Cols)
		}
	}
	if nz != 166 || top != 5 || bottom != 24 {
		t.Errorf("first image: %d non-zero pixels in rows %d–%d", nz, top, bottom)
	}
	if sub := ds.Train.Subset(100); sub.Len() != 100 || len(sub.Pixels) != 100*784 {
		t.Errorf("Subset(100) has %d images", sub.Len())
	}
}

func TestLoadLayouts(t *testing.T) {
	t.Run("flat raw", func(t *testing.T) {
		dir := t.TempDir()
		tinySet(t, dir)
		ds, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Train.Len() != 3 || ds.Test.Len() != 2 || ds.Test.Label(0) != 7 || ds.Train.Image(2)[1] != byte((2*784+1)*7%256) {
			t.Errorf("loaded %d/%d images", ds.Train.Len(), ds.Test.Len())
		}
	})
	t.Run("torchvision gz", func(t *testing.T) {
		dir := t.TempDir()
		raw := filepath.Join(dir, "MNIST", "raw")
		os.MkdirAll(raw, 0o755)
		for name, data := range tinySet(t, t.TempDir()) {
			os.WriteFile(filepath.Join(raw, name+".gz"), gz(data, gzip.BestCompression), 0o644)
		}
		ds, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Dir != raw || ds.Train.Len() != 3 || ds.Verified {
			t.Errorf("read %s, %d images", ds.Dir, ds.Train.Len())
		}
		// These gz files are not the official ones: one warning each, naming it.
		if len(ds.Warnings) != 4 || !strings.Contains(ds.Warnings[0], "train-images-idx3-ubyte.gz") || !strings.Contains(ds.Warnings[0], "MD5") {
			t.Errorf("warnings: %v", ds.Warnings)
		}
	})
}

func TestDataDirFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	tinySet(t, dir)
	t.Setenv(EnvDataDir, dir)
	ds, err := Load("")
	if err != nil || ds.Train.Len() != 3 {
		t.Fatalf("Load with $%s: %v", EnvDataDir, err)
	}
}

func TestLoadErrors(t *testing.T) {
	valid := tinySet(t, t.TempDir())
	for _, tc := range []struct {
		name    string
		change  func(dir string)
		wantErr []string
	}{
		{"empty folder", func(dir string) {
			for name := range valid {
				os.Remove(filepath.Join(dir, name))
			}
		}, []string{"no MNIST files", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}},
		{"missing file", func(dir string) {
			os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte"))
		}, []string{"lacks t10k-labels-idx1-ubyte[.gz]", "3 of the 4"}},
		{"wrong magic", func(dir string) {
			os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte"), valid["train-labels-idx1-ubyte"], 0o644)
		}, []string{"train-images-idx3-ubyte", "magic number 2049, want 2051"}},
		{"truncated header", func(dir string) {
			os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte"), valid["t10k-images-idx3-ubyte"][:10], 0o644)
		}, []string{"t10k-images-idx3-ubyte", "truncated header: 10 bytes, want 16"}},
		{"truncated body", func(dir string) {
			d := valid["train-images-idx3-ubyte"]
			os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte"), d[:len(d)-5], 0o644)
		}, []string{"train-images-idx3-ubyte", "truncated", "2347"}},
		{"trailing data", func(dir string) {
			d := append(append([]byte{}, valid["train-labels-idx1-ubyte"]...), 1)
			os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), d, 0o644)
		}, []string{"train-labels-idx1-ubyte", "data after"}},
		{"count mismatch", func(dir string) {
			os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), idx(labelMagic, []uint32{2}, []byte{1, 2}), 0o644)
		}, []string{"3 images", "2 labels", "train-labels-idx1-ubyte"}},
		{"image size", func(dir string) {
			os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte"), idx(imageMagic, []uint32{1, 32, 32}, make([]byte, 1024)), 0o644)
		}, []string{"t10k-images-idx3-ubyte", "32×32, want 28×28"}},
		{"label above 9", func(dir string) {
			os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte"), idx(labelMagic, []uint32{2}, []byte{3, 11}), 0o644)
		}, []string{"t10k-labels-idx1-ubyte", "label 11 at index 1"}},
		{"huge count", func(dir string) {
			os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte"), idx(imageMagic, []uint32{1 << 30, 28, 28}, nil), 0o644)
		}, []string{"train-images-idx3-ubyte", "more than any MNIST file"}},
		{"corrupt gzip", func(dir string) {
			os.Remove(filepath.Join(dir, "train-images-idx3-ubyte"))
			z := gz(valid["train-images-idx3-ubyte"], 6)
			os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), z[:len(z)/2], 0o644)
		}, []string{"train-images-idx3-ubyte.gz", "gzip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tinySet(t, dir)
			tc.change(dir)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing folder: %v", err)
	}
}

// The fallback version in default.go is the one go.mod requires.
func TestGoMNISTVersionMatchesGoMod(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mod), goMNIST+" "+goMNISTVersion) {
		t.Errorf("go.mod does not require %s %s", goMNIST, goMNISTVersion)
	}
	if got := escapePath(goMNIST); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Errorf("escaped path %q", got)
	}
}

// FuzzParse feeds arbitrary bytes to both parsers: they return an error or
// data consistent with the header, and never panic. The seed corpus runs in
// every `go test`.
func FuzzParse(f *testing.F) {
	f.Add(idx(imageMagic, []uint32{1, Rows, Cols}, make([]byte, Rows*Cols)))
	f.Add(idx(labelMagic, []uint32{3}, []byte{0, 9, 4}))
	f.Add(gz(idx(labelMagic, []uint32{2}, []byte{1, 2}), 9))
	f.Add(idx(imageMagic, []uint32{2, Rows, Cols}, make([]byte, 100)))
	f.Add(idx(imageMagic, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil))
	f.Add(idx(labelMagic, []uint32{1}, []byte{200}))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if pixels, n, err := ParseImages(data); err == nil && len(pixels) != n*Rows*Cols {
			t.Errorf("%d images in %d bytes", n, len(pixels))
		}
		if labels, err := ParseLabels(data); err == nil {
			for _, l := range labels {
				if l > 9 {
					t.Errorf("label %d accepted", l)
				}
			}
		}
	})
}

func TestSplit(t *testing.T) {
	s := &Set{Pixels: make([]byte, 5*Rows*Cols), Labels: []uint8{0, 1, 2, 3, 4}}
	for i := range s.Pixels {
		s.Pixels[i] = byte(i / (Rows * Cols))
	}
	rest, held, err := s.Split(2)
	if err != nil {
		t.Fatal(err)
	}
	if rest.Len() != 3 || held.Len() != 2 || held.Label(0) != 3 || held.Image(1)[0] != 4 || rest.Image(2)[783] != 2 {
		t.Errorf("split: %d and %d images, held labels %v", rest.Len(), held.Len(), held.Labels)
	}
	// The rest cannot grow into the held-out images.
	if cap(rest.Labels) != 3 || cap(rest.Pixels) != 3*Rows*Cols {
		t.Error("the rest's slices reach into the held-out images")
	}
	for _, n := range []int{-1, 5, 6} {
		if _, _, err := s.Split(n); err == nil {
			t.Errorf("Split(%d) accepted", n)
		}
	}
	if rest, held, err := s.Split(0); err != nil || rest.Len() != 5 || held.Len() != 0 {
		t.Errorf("Split(0): %v", err)
	}
}
