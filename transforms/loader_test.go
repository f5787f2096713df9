package transforms

import (
	"flag"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// ramps is a Source of n 28×28 images; image i is filled with the value i%256
// and has label i%10.
type ramps int

func (r ramps) Len() int { return int(r) }
func (r ramps) Image(i int) []byte {
	b := make([]byte, 28*28)
	for j := range b {
		b[j] = byte(i % 256)
	}
	return b
}
func (r ramps) Label(i int) uint8 { return uint8(i % 10) }

func collect(t *testing.T, l *Loader, epoch int) (sizes []int, labels []int64, xs [][]float32) {
	t.Helper()
	it := l.Epoch(epoch)
	defer it.Close()
	for want := 0; ; want++ {
		b, ok := it.Next()
		if !ok {
			break
		}
		if b.Index != want {
			t.Fatalf("batch %d has index %d", want, b.Index)
		}
		sizes = append(sizes, b.N)
		labels = append(labels, b.Y[:b.N]...)
		xs = append(xs, slices.Clone(b.X[:b.N*28*28]))
	}
	return sizes, labels, xs
}

func TestToTensorAndNormalize(t *testing.T) {
	im := NewImage(2, 2)
	ToTensor(im, []byte{0, 255, 51, 102})
	if !slices.Equal(im.Pix, []float32{0, 1, 0.2, 0.4}) {
		t.Errorf("ToTensor = %v", im.Pix)
	}
	MNISTNormalize.Apply(im, nil)
	want := []float32{-0.1307 / 0.3081, (1 - 0.1307) / 0.3081, (0.2 - 0.1307) / 0.3081, (0.4 - 0.1307) / 0.3081}
	if !near(im.Pix, want, 1e-6) {
		t.Errorf("Normalize = %v, want %v", im.Pix, want)
	}
	c := Compose{Normalize{Mean: 1, Std: 2}, Normalize{Mean: 0, Std: 0.5}}
	im = imageOf(1, 1, []float32{5})
	c.Apply(im, nil)
	if im.Pix[0] != 4 { // ((5−1)/2)/0.5
		t.Errorf("Compose applied out of order: %v", im.Pix[0])
	}
}

func TestLoaderBatches(t *testing.T) {
	l, err := NewLoader(ramps(10), LoaderConfig{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if l.NumBatches() != 3 {
		t.Errorf("NumBatches = %d, want 3", l.NumBatches())
	}
	sizes, labels, xs := collect(t, l, 0)
	if !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Errorf("batch sizes %v, want [4 4 2] (last partial batch kept)", sizes)
	}
	if !slices.Equal(labels, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("unshuffled labels %v", labels)
	}
	// Without a transform, image i is i/255 everywhere.
	if xs[2][0] != 8.0/255 || xs[2][28*28] != 9.0/255 || xs[2][2*28*28-1] != 9.0/255 {
		t.Errorf("last batch pixels %v %v", xs[2][0], xs[2][28*28])
	}
}

func TestLoaderShuffle(t *testing.T) {
	cfg := LoaderConfig{BatchSize: 7, Shuffle: true, Seed: 1}
	l, _ := NewLoader(ramps(50), cfg)
	_, e0, _ := collect(t, l, 0)
	_, e1, _ := collect(t, l, 1)
	_, again, _ := collect(t, l, 0)
	if !slices.Equal(e0, again) {
		t.Error("the same seed and epoch gave another order")
	}
	if slices.Equal(e0, e1) {
		t.Error("epochs 0 and 1 have the same order")
	}
	// Every image once per epoch: labels are i%10, so each digit 5 times.
	order := l.Order(0)
	sorted := slices.Clone(order)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != i {
			t.Fatalf("epoch order is not a permutation: %v", order)
		}
	}
	cfg.Seed = 2
	other, _ := NewLoader(ramps(50), cfg)
	if slices.Equal(other.Order(0), order) {
		t.Error("seeds 1 and 2 give the same order")
	}
}

// A stream runs epoch after epoch: its batches are epoch 0's, then epoch
// 1's in epoch 1's own order, then epoch 2's.
func TestLoaderStream(t *testing.T) {
	l, _ := NewLoader(ramps(10), LoaderConfig{BatchSize: 4, Shuffle: true, Seed: 3})
	var want []int64
	for epoch := range 3 {
		_, labels, _ := collect(t, l, epoch)
		want = append(want, labels...)
	}
	s := l.Stream()
	defer s.Close()
	var got []int64
	for range 9 { // 3 batches an epoch
		b := s.Next()
		got = append(got, b.Y[:b.N]...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("stream labels %v, want epochs 0-2 %v", got, want)
	}
}

// The same seed gives the same augmented batches, with any number of
// workers and batches prepared ahead.
func TestLoaderAugmentationIsReproducible(t *testing.T) {
	ds, err := loadMNIST()
	if err != nil {
		t.Fatal(err)
	}
	src := ds.Train.Subset(300)
	aug := Compose{RandomRotation{Degrees: 7}, MNISTNormalize}
	run := func(workers, prefetch int, seed uint64) [][]float32 {
		l, err := NewLoader(src, LoaderConfig{BatchSize: 64, Shuffle: true, Seed: seed, Transform: aug, Workers: workers, Prefetch: prefetch})
		if err != nil {
			t.Fatal(err)
		}
		_, _, xs := collect(t, l, 3)
		return xs
	}
	a, b, c, d := run(1, 1, 9), run(3, 1, 9), run(1, 1, 10), run(2, 4, 9)
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("batch %d differs between 1 and 3 workers", i)
		}
		if !slices.Equal(a[i], d[i]) {
			t.Fatalf("batch %d differs between 1 worker and 2 workers with 4 batches ahead", i)
		}
	}
	if slices.Equal(a[0], c[0]) {
		t.Error("seeds 9 and 10 gave the same first batch")
	}
	// Augmentation does change the images: compare with a plain pass.
	plain, _ := NewLoader(src, LoaderConfig{BatchSize: 64, Shuffle: true, Seed: 9, Transform: MNISTNormalize})
	_, _, p := collect(t, plain, 3)
	if slices.Equal(a[0], p[0]) {
		t.Error("rotation left the batch unchanged")
	}
}

func TestLoaderStopsEarly(t *testing.T) {
	l, _ := NewLoader(ramps(1000), LoaderConfig{BatchSize: 10, Transform: RandomRotation{Degrees: 5}})
	it := l.Epoch(0)
	if _, ok := it.Next(); !ok {
		t.Fatal("no first batch")
	}
	it.Close()
	it.Close()
	if _, ok := it.Next(); ok {
		t.Error("Next gave a batch after Close")
	}
	// The buffers go back to the loader for the next epoch.
	if len(l.spare) != 2 {
		t.Errorf("%d spare buffers after Close, want 2", len(l.spare))
	}
	it = l.Epoch(1)
	defer it.Close()
	if len(l.spare) != 0 {
		t.Errorf("the next epoch left %d spare buffers unused", len(l.spare))
	}
}

func TestLoaderRejectsBadConfig(t *testing.T) {
	for _, cfg := range []LoaderConfig{{BatchSize: 0}, {BatchSize: 4, Workers: -1}, {BatchSize: 4, Prefetch: -2}, {BatchSize: 4, W: 10, H: 10}} {
		if _, err := NewLoader(ramps(5), cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := NewLoader(ramps(0), LoaderConfig{BatchSize: 4}); err == nil {
		t.Error("empty source accepted")
	}
}

var gridPath = flag.String("grid", "", "write a PNG grid of rotated MNIST digits to this path")

// TestRotationGrid draws 8 digits (rows) rotated by −21°…+21° with nearest and
// bilinear sampling, as a PNG for a person to look at:
//
//	go test ./transforms -run TestRotationGrid -grid /tmp/rotated.png
//
// Without -grid it writes to a temporary folder and checks the file.
func TestRotationGrid(t *testing.T) {
	path := *gridPath
	if path == "" {
		path = filepath.Join(t.TempDir(), "rotated.png")
	}
	angles := []float64{-21, -14, -7, 0, 7, 14, 21}
	const cell = 30 // 28 pixels and a border
	cols := 2*len(angles) + 1
	img := image.NewGray(image.Rect(0, 0, cols*cell, 8*cell))
	for i := range img.Pix {
		img.Pix[i] = 96
	}
	put := func(r, c int, im *Image) {
		for y := range 28 {
			for x := range 28 {
				v := math.Round(float64(im.Pix[y*28+x]) * 255)
				img.SetGray(c*cell+1+x, r*cell+1+y, color.Gray{Y: uint8(max(0, min(255, v)))})
			}
		}
	}
	for r := range 8 {
		for c, a := range angles {
			im := digit(t, r)
			Rotate(im, a, 0, Nearest)
			put(r, c, im)
			im = digit(t, r)
			Rotate(im, a, 0, Bilinear)
			put(r, len(angles)+1+c, im)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	back, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if cfg, err := png.DecodeConfig(back); err != nil || cfg.Width != cols*cell {
		t.Errorf("grid PNG: %v, %+v", err, cfg)
	}
	if *gridPath != "" {
		t.Logf("wrote %s: rows are digits, columns %v° nearest, then the same bilinear", path, angles)
	}
}

// BenchmarkPipeline measures the data pipeline alone: shuffled MNIST
// training batches of 64, ToTensor, (rotation), Normalize; one worker, and
// the GPU run's setting (train/engine: 2 workers, 4 batches ahead).
func BenchmarkPipeline(b *testing.B) {
	ds, err := loadMNIST()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name              string
		tf                Transform
		workers, prefetch int
	}{
		{"rotate", Compose{RandomRotation{Degrees: 7}, MNISTNormalize}, 1, 1},
		{"rotate-gpu-setting", Compose{RandomRotation{Degrees: 7}, MNISTNormalize}, 2, 4},
		{"rotate-bilinear", Compose{RandomRotation{Degrees: 7, Interpolation: Bilinear}, MNISTNormalize}, 1, 1},
		{"plain", MNISTNormalize, 1, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := NewLoader(ds.Train, LoaderConfig{BatchSize: 64, Shuffle: true, Seed: 1, Transform: bc.tf, Workers: bc.workers, Prefetch: bc.prefetch})
			if err != nil {
				b.Fatal(err)
			}
			images := 0
			stream := l.Stream()
			b.ResetTimer()
			for range b.N {
				images += stream.Next().N
			}
			b.StopTimer()
			stream.Close()
			b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// A rotation on its own, for profiling.
func BenchmarkRotate(b *testing.B) {
	im := NewImage(28, 28)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range im.Pix {
		im.Pix[i] = rng.Float32()
	}
	r := RandomRotation{Degrees: 7}
	for range b.N {
		r.Apply(im, rng)
	}
}
