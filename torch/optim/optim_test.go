package optim_test

import (
	"math"
	"testing"

	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
)

// A bias-free Linear(2 → 1) with input c has loss sum(W·c), so the gradient
// of W is c at every step; the updates can then be followed by hand.
func TestSGDStepsByHand(t *testing.T) {
	c := []float64{3, 0.5}
	for _, tc := range []struct {
		name string
		cfg  optim.SGDConfig
	}{
		{"plain", optim.SGDConfig{LR: 0.1}},
		{"momentum+decay", optim.SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01}},
		{"dampening", optim.SGDConfig{LR: 0.05, Momentum: 0.5, Dampening: 0.3}},
		{"nesterov", optim.SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01, Nesterov: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lin, err := nn.New(nn.Linear{In: 2, Out: 1, NoBias: true})
			if err != nil {
				t.Fatal(err)
			}
			defer lin.Close()
			w := lin.NamedParameters()[0].Tensor
			p := []float64{1, -2}
			torch.CopyFrom(w, p)
			x, _ := torch.FromSlice([]float32{float32(c[0]), float32(c[1])}, 1, 2)
			defer x.Close()
			opt, err := optim.NewSGD(nn.Parameters(lin), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer opt.Close()

			// The update of torch.optim.SGD, written out.
			k := tc.cfg
			var buf []float64
			for step := range 3 {
				if err := opt.ZeroGrad(); err != nil {
					t.Fatal(err)
				}
				out, err := lin.Forward(x)
				if err != nil {
					t.Fatal(err)
				}
				loss, _ := out.Sum()
				if err := loss.Backward(); err != nil {
					t.Fatal(err)
				}
				out.Close()
				loss.Close()
				if err := opt.Step(); err != nil {
					t.Fatal(err)
				}
				for i := range p {
					g := c[i] + k.WeightDecay*p[i]
					if k.Momentum != 0 {
						if buf == nil {
							buf = make([]float64, len(p))
						}
						if step == 0 {
							buf[i] = g
						} else {
							buf[i] = k.Momentum*buf[i] + (1-k.Dampening)*g
						}
						if k.Nesterov {
							g += k.Momentum * buf[i]
						} else {
							g = buf[i]
						}
					}
					p[i] -= k.LR * g
				}
				got, _ := w.Float64s()
				for i := range p {
					if math.Abs(got[i]-p[i]) > 1e-5 {
						t.Fatalf("step %d: w = %v, want %v", step+1, got, p)
					}
				}
			}
			if k.Momentum != 0 {
				b, _ := opt.MomentumBuffers()[0].Float64s()
				for i := range buf {
					if math.Abs(b[i]-buf[i]) > 1e-5 {
						t.Errorf("momentum buffer = %v, want %v", b, buf)
					}
				}
			}
			if err := opt.ZeroGrad(); err != nil {
				t.Fatal(err)
			}
			if g, _ := w.Grad(); g != nil {
				t.Error("ZeroGrad left a gradient")
			}
		})
	}
}

func TestSGDRejectsBadConfig(t *testing.T) {
	for _, cfg := range []optim.SGDConfig{
		{LR: -1},
		{LR: 0.1, Momentum: -0.5},
		{LR: 0.1, WeightDecay: -1},
		{LR: 0.1, Nesterov: true},
		{LR: 0.1, Momentum: 0.9, Dampening: 0.1, Nesterov: true},
	} {
		if _, err := optim.NewSGD(nil, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestSetLR(t *testing.T) {
	opt, _ := optim.NewSGD(nil, optim.SGDConfig{LR: 0.01})
	opt.SetLR(0.001)
	if opt.LR() != 0.001 || opt.Config().LR != 0.001 {
		t.Errorf("lr = %v", opt.LR())
	}
}

func TestStepLRSequence(t *testing.T) {
	s, err := optim.NewStepLR(6, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	// torch.optim.lr_scheduler.StepLR(step_size=6, gamma=0.1) from lr 0.01,
	// stepped once per epoch, over 15 epochs.
	want := []float64{
		0.01, 0.01, 0.01, 0.01, 0.01, 0.01,
		0.001, 0.001, 0.001, 0.001, 0.001, 0.001,
		0.0001, 0.0001, 0.0001,
	}
	for epoch, w := range want {
		if got := s.LR(0.01, epoch); math.Abs(got-w) > 1e-12 {
			t.Errorf("epoch %d: lr %v, want %v", epoch+1, got, w)
		}
	}
	if _, err := optim.NewStepLR(0, 0.1); err == nil {
		t.Error("step size 0 accepted")
	}
	if _, err := optim.NewStepLR(6, 0); err == nil {
		t.Error("gamma 0 accepted")
	}
	if got := (optim.Constant{}).LR(0.01, 14); got != 0.01 {
		t.Errorf("constant lr = %v", got)
	}
}
