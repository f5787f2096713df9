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
		for _, fromTensor := range []bool{false, true} {
			name := tc.name
			if fromTensor {
				name += "/rate-tensor"
			}
			t.Run(name, func(t *testing.T) { sgdByHand(t, c, tc.cfg, fromTensor) })
		}
	}
}

// sgdByHand runs three steps of SGD on the Linear of TestSGDStepsByHand and
// follows them by hand. With fromTensor the steps read the rate from a
// scalar tensor (as a captured CUDA graph does), and the rate is halved
// before the third step through SetLR, which must reach the tensor.
func sgdByHand(t *testing.T, c []float64, cfg optim.SGDConfig, fromTensor bool) {
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
	opt, err := optim.NewSGD(nn.Parameters(lin), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	if fromTensor {
		lr, _ := torch.FromSlice([]float32{123}) // overwritten by ReadLRFrom
		defer lr.Close()
		if err := opt.ReadLRFrom(lr); err != nil {
			t.Fatal(err)
		}
	}

	// The update of torch.optim.SGD, written out.
	k := cfg
	var buf []float64
	for step := range 3 {
		if fromTensor && step == 2 {
			k.LR /= 2
			if err := opt.SetLR(k.LR); err != nil {
				t.Fatal(err)
			}
		}
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		out, err := lin.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		loss, _ := out.Sum()
		backwardStep(t, opt, out, loss)
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

// TestOneCycleMatchesPyTorch compares with the learning rates that PyTorch
// 1.13.1's OneCycleLR (cycle_momentum=False) gave before each step; the
// script that printed them is in the comment below.
//
//	p = torch.nn.Parameter(torch.zeros(1))
//	opt = torch.optim.SGD([p], lr=mx, momentum=0.9)
//	s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=mx, total_steps=total, pct_start=pct, cycle_momentum=False)
//	for i in range(total): lrs.append(opt.param_groups[0]['lr']); opt.step(); s.step()
func TestOneCycleMatchesPyTorch(t *testing.T) {
	cases := []struct {
		total    int
		pct, max float64
		want     map[int]float64
	}{
		{100, 0.3, 0.1, map[int]float64{0: 0.0040000000000000036, 1: 0.004281378056590748, 2: 0.00512221332591585, 14: 0.04940133238789996, 28: 0.09971862194340926, 29: 0.1, 30: 0.09994965352845243, 31: 0.09979871550490317, 50: 0.0793893450575732, 98: 5.07464715475788e-05, 99: 4e-07}},
		{14070, 0.2, 0.2, map[int]float64{0: 0.008000000000000007, 1: 0.008000059868926823, 2: 0.008000239475632637, 2010: 0.16391487568186713, 2812: 0.1999999401310732, 2813: 0.2, 2814: 0.19999999610506836, 2815: 0.19999998442027372, 7035: 0.138242802944957, 14068: 8.038949316516198e-07, 14069: 8e-07}},
		{37, 0.25, 1, map[int]float64{0: 0.040000000000000036, 1: 0.07438339215228518, 2: 0.17260766170956643, 5: 0.6769926223923624, 7: 0.9466410153543632, 8: 0.9978265228350806, 9: 0.9981987514762861, 10: 0.9902193631033674, 18: 0.725102972001347, 35: 0.0032047233872037847, 36: 4e-06}},
		// The edges: 2 and 3 steps in the rising part, every step; a rise
		// shorter than one step; a single step.
		{8, 0.25, 0.05, map[int]float64{0: 0.0020000000000000018, 1: 0.05, 2: 0.046650648492070595, 3: 0.03750005, 4: 0.0250001, 5: 0.012500150000000007, 6: 0.0033495515079294113, 7: 2e-07}},
		{8, 0.375, 0.05, map[int]float64{0: 0.0020000000000000018, 1: 0.026000000000000002, 2: 0.05, 3: 0.04522544395767425, 4: 0.03272549395767425, 5: 0.017274706042325755, 6: 0.004774756042325754, 7: 2e-07}},
		{2, 0.25, 0.05, map[int]float64{0: 0.03750005, 1: 2e-07}},
		{3, 0.25, 0.05, map[int]float64{0: 0.04849232155038564, 1: 0.02065891292314451, 2: 2e-07}},
		{1, 0.3, 0.05, map[int]float64{0: 2e-07}},
	}
	for _, c := range cases {
		o := optim.DefaultOneCycle
		o.PctStart = c.pct
		if err := o.CheckSteps(c.total); err != nil {
			t.Errorf("total %d, pct %g: %v", c.total, c.pct, err)
		}
		for step, want := range c.want {
			if got := o.StepLR(c.max, step, c.total); math.Abs(got-want) > 1e-12*c.max {
				t.Errorf("total %d, pct %g: step %d: lr %.17g, PyTorch %.17g", c.total, c.pct, step, got, want)
			}
		}
	}
	// One step in the rising part (pct start × total = 1): PyTorch raises
	// ZeroDivisionError ("float division by zero"), and the rate would be
	// NaN here; refused.
	for _, c := range []struct {
		total int
		pct   float64
	}{{4, 0.25}, {10, 0.1}, {2, 0.5}, {0, 0.3}} {
		o := optim.DefaultOneCycle
		o.PctStart = c.pct
		if o.CheckSteps(c.total) == nil {
			t.Errorf("total %d, pct %g: accepted", c.total, c.pct)
		}
	}
	for _, bad := range []optim.OneCycle{{PctStart: 0}, {PctStart: 1, DivFactor: 25, FinalDivFactor: 1e4}, {PctStart: 0.3, DivFactor: 0, FinalDivFactor: 1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// backwardStep backpropagates loss, closes it and the output it came
// from, and takes the optimizer's step.
func backwardStep(t *testing.T, opt *optim.SGD, out, loss *torch.Tensor) {
	t.Helper()
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	loss.Close()
	if err := opt.Step(); err != nil {
		t.Fatal(err)
	}
}
