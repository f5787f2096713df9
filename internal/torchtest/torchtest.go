// Package torchtest holds what the binding's tests share: tensors that
// close themselves when a test ends, their values, the small network of
// the PyTorch fixtures (torch/nn/testdata/small_net.py, used by
// make_state_dict.py and torch/optim/testdata/make_average.py), and
// damaged copies of saved files for the fuzz tests' seed corpora.
package torchtest

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
)

// Keep(t)(tensor, err) fails the test on err and closes the tensor when
// the test ends.
func Keep(t testing.TB) func(*torch.Tensor, error) *torch.Tensor {
	return func(x *torch.Tensor, err error) *torch.Tensor {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(x.Close)
		return x
	}
}

// Floats reads a float32 tensor's values.
func Floats(t testing.TB, x *torch.Tensor) []float32 {
	t.Helper()
	v, err := x.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Near reports whether a and b have the same length and differ by at most
// tol everywhere.
func Near(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i])-float64(b[i])) > tol {
			return false
		}
	}
	return true
}

// SmallNet is the network of the PyTorch fixtures: a padded 3×3
// convolution without bias to 4 channels, BatchNorm, ReLU, a max-pool, a
// 3×3 convolution to 3 channels, GAP and log-softmax. It closes when the
// test ends.
func SmallNet(t testing.TB) *nn.Sequential {
	t.Helper()
	return Net(t, SmallLayout(4, 3, 1)...)
}

// SmallLayout is SmallNet's layout at other sizes: a 3×3 convolution
// without bias to width channels (padding on each side), BatchNorm, ReLU,
// a max-pool, a 3×3 convolution to out channels, GAP and log-softmax.
func SmallLayout(width, out, padding int) []nn.Spec {
	return []nn.Spec{
		nn.Conv2d{In: 1, Out: width, Kernel: 3, Padding: padding, NoBias: true},
		nn.BatchNorm2d{Features: width},
		nn.ReLU{},
		nn.MaxPool2d{Kernel: 2},
		nn.Conv2d{In: width, Out: out, Kernel: 3},
		nn.AdaptiveAvgPool2d{Size: 1},
		nn.Flatten{},
		nn.LogSoftmax{Dim: 1},
	}
}

// Net builds a Sequential of specs, failing the test on an error, and
// closes it when the test ends.
func Net(t testing.TB, specs ...nn.Spec) *nn.Sequential {
	t.Helper()
	net, err := nn.NewSequential(specs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	return net
}

// Load loads a saved file's named tensors (torch.LoadTensors), failing the
// test on an error; the tensors are closed when the test ends.
func Load(t testing.TB, data []byte) []torch.Named {
	t.Helper()
	got, err := torch.LoadTensors(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range got {
			n.Tensor.Close()
		}
	})
	return got
}

// LoadFile is Load on the file at path (a test's fixture).
func LoadFile(t testing.TB, path string) []torch.Named {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Load(t, data)
}

// Damaged is a fuzz test's seed corpus for a saved file: the file, its
// cuts at every 1/16 of its length, and 16 copies with 1 to 8 bytes
// flipped at places drawn from stream (the same for the same file).
func Damaged(data []byte, stream uint64) [][]byte {
	out := [][]byte{data}
	for k := 1; k < 16; k++ {
		out = append(out, data[:len(data)*k/16])
	}
	rng := rand.New(rand.NewPCG(uint64(len(data)), stream))
	for range 16 {
		b := slices.Clone(data)
		for range 1 + rng.IntN(8) {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		out = append(out, b)
	}
	return out
}
