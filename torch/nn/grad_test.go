package nn_test

import (
	"math"
	"testing"

	"github.com/tinydigits/tinydigits/internal/torchtest"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
)

// The gradients that backward computes for conv → pooling → log-softmax →
// NLL match central finite differences of the loss, in float64.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	if err := torch.ManualSeed(3); err != nil {
		t.Fatal(err)
	}
	net := torchtest.Net(t,
		nn.Conv2d{In: 1, Out: 3, Kernel: 3},
		nn.AdaptiveAvgPool2d{Size: 1},
		nn.Flatten{},
		nn.LogSoftmax{Dim: 1},
	)
	if err := net.ToDType(torch.Float64); err != nil {
		t.Fatal(err)
	}
	xs := make([]float64, 4*6*6)
	for i := range xs {
		xs[i] = math.Sin(float64(i)*0.7) + 0.3*math.Cos(float64(i)*1.3)
	}
	x := keep(t)(torch.FromSlice(xs, 4, 1, 6, 6))
	y := keep(t)(torch.FromSlice([]int64{0, 2, 1, 2}, 4))

	loss := func() float64 {
		t.Helper()
		out := keep(t)(net.Forward(x))
		l := keep(t)(nn.NLLLoss(out, y))
		v, err := l.Item()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	out := keep(t)(net.Forward(x))
	l := keep(t)(nn.NLLLoss(out, y))
	if err := l.Backward(); err != nil {
		t.Fatal(err)
	}
	const h = 1e-6
	checked := 0
	for _, p := range net.NamedParameters() {
		if p.Tensor.DType() != torch.Float64 {
			t.Fatalf("%s is %v after ToDType(float64)", p.Name, p.Tensor.DType())
		}
		g := keep(t)(p.Tensor.Grad())
		grad, _ := g.Float64s()
		vals, _ := p.Tensor.Float64s()
		for i := range vals {
			orig := vals[i]
			vals[i] = orig + h
			torch.CopyFrom(p.Tensor, vals)
			up := loss()
			vals[i] = orig - h
			torch.CopyFrom(p.Tensor, vals)
			down := loss()
			vals[i] = orig
			torch.CopyFrom(p.Tensor, vals)
			fd := (up - down) / (2 * h)
			if math.Abs(fd-grad[i]) > 1e-6*max(1, math.Abs(fd)) {
				t.Errorf("%s[%d]: backward %v, finite difference %v", p.Name, i, grad[i], fd)
			}
			checked++
		}
	}
	if checked != 3*9+3 {
		t.Errorf("checked %d parameters, want 30", checked)
	}
}
