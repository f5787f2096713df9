// Package torchtest holds what the binding's tests share: tensors that
// close themselves when a test ends, their values, and the small network
// of the PyTorch fixtures (torch/nn/testdata/make_state_dict.py,
// torch/optim/testdata/make_average.py).
package torchtest

import (
	"math"
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
	net, err := nn.NewSequential(
		nn.Conv2d{In: 1, Out: 4, Kernel: 3, Padding: 1, NoBias: true},
		nn.BatchNorm2d{Features: 4},
		nn.ReLU{},
		nn.MaxPool2d{Kernel: 2},
		nn.Conv2d{In: 4, Out: 3, Kernel: 3},
		nn.AdaptiveAvgPool2d{Size: 1},
		nn.Flatten{},
		nn.LogSoftmax{Dim: 1},
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	return net
}
