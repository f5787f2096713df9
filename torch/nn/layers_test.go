package nn_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/torchtest"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
)

// The binding's test helpers (internal/torchtest).
var (
	keep   = torchtest.Keep
	floats = torchtest.Floats
	near   = torchtest.Near
)

func layer(t *testing.T, s nn.Spec) *nn.Layer {
	t.Helper()
	l, err := nn.New(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func set(t *testing.T, x *torch.Tensor, vals ...float32) {
	t.Helper()
	if err := torch.CopyFrom(x, vals); err != nil {
		t.Fatal(err)
	}
}

// 1..9 as a 1×1×3×3 image.
func ramp(t *testing.T) *torch.Tensor {
	return keep(t)(torch.FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3))
}

func TestConv2dByHand(t *testing.T) {
	conv := layer(t, nn.Conv2d{In: 1, Out: 1, Kernel: 2})
	p := conv.NamedParameters()
	if len(p) != 2 || p[0].Name != "weight" || p[1].Name != "bias" {
		t.Fatalf("parameters = %v", p)
	}
	set(t, p[0].Tensor, 1, 2, 3, 4) // [[1 2] [3 4]]
	set(t, p[1].Tensor, 0.5)
	out := keep(t)(conv.Forward(ramp(t)))
	if !slices.Equal(out.Shape(), []int64{1, 1, 2, 2}) {
		t.Fatalf("shape %v", out.Shape())
	}
	// Cross-correlation, as PyTorch's conv: top-left = 1·1 + 2·2 + 3·4 + 4·5 + 0.5.
	want := []float32{37.5, 47.5, 67.5, 77.5}
	if got := floats(t, out); !near(got, want, 1e-5) {
		t.Errorf("conv = %v, want %v", got, want)
	}

	// Padding 1, no bias: the top-left output sees only x[0,0] under w[1,1].
	padded := layer(t, nn.Conv2d{In: 1, Out: 1, Kernel: 2, Padding: 1, NoBias: true})
	if n := len(padded.NamedParameters()); n != 1 {
		t.Fatalf("bias-free conv has %d parameters", n)
	}
	set(t, padded.NamedParameters()[0].Tensor, 1, 2, 3, 4)
	out = keep(t)(padded.Forward(ramp(t)))
	got := floats(t, out)
	if !slices.Equal(out.Shape(), []int64{1, 1, 4, 4}) || got[0] != 4 || got[15] != 9 {
		t.Errorf("padded conv = %v %v; want corners 4 (1·4) and 9 (9·1)", out.Shape(), got)
	}

	// Stride 2 over 3×3 with kernel 2 and no padding: one output.
	strided := layer(t, nn.Conv2d{In: 1, Out: 1, Kernel: 2, Stride: 2, NoBias: true})
	set(t, strided.NamedParameters()[0].Tensor, 1, 1, 1, 1)
	out = keep(t)(strided.Forward(ramp(t)))
	if got := floats(t, out); !slices.Equal(got, []float32{1 + 2 + 4 + 5}) {
		t.Errorf("strided conv = %v", got)
	}
}

func TestGroupedConv2dByHand(t *testing.T) {
	// Depthwise: two channels, each with its own 2×2 kernel and nothing mixed.
	conv := layer(t, nn.Conv2d{In: 2, Out: 2, Kernel: 2, Groups: 2, NoBias: true})
	w := conv.NamedParameters()[0].Tensor
	if !slices.Equal(w.Shape(), []int64{2, 1, 2, 2}) {
		t.Fatalf("depthwise weight shape %v, want [2 1 2 2]", w.Shape())
	}
	set(t, w, 1, 2, 3, 4, 1, 0, 0, -1)
	x := keep(t)(torch.FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, 1, 2, 3, 3))
	out := keep(t)(conv.Forward(x))
	// Channel 0 as in TestConv2dByHand; channel 1 is x[i,j] − x[i+1,j+1] = −4 everywhere.
	want := []float32{37, 47, 67, 77, -4, -4, -4, -4}
	if got := floats(t, out); !slices.Equal(out.Shape(), []int64{1, 2, 2, 2}) || !near(got, want, 1e-5) {
		t.Errorf("depthwise conv = %v %v, want %v", out.Shape(), got, want)
	}
}

func TestPooling(t *testing.T) {
	x := keep(t)(torch.FromSlice([]float32{
		1, 5, 2, 0,
		3, 4, 8, 1,
		0, 0, 1, 1,
		9, 2, 1, 3,
	}, 1, 1, 4, 4))
	maxp := keep(t)(layer(t, nn.MaxPool2d{Kernel: 2}).Forward(x))
	if got := floats(t, maxp); !slices.Equal(got, []float32{5, 8, 9, 3}) || !slices.Equal(maxp.Shape(), []int64{1, 1, 2, 2}) {
		t.Errorf("maxpool = %v %v", got, maxp.Shape())
	}
	avgp := keep(t)(layer(t, nn.AvgPool2d{Kernel: 2}).Forward(x))
	if got := floats(t, avgp); !near(got, []float32{13. / 4, 11. / 4, 11. / 4, 6. / 4}, 1e-6) {
		t.Errorf("avgpool = %v", got)
	}
	gap := keep(t)(layer(t, nn.AdaptiveAvgPool2d{Size: 1}).Forward(x))
	if got := floats(t, gap); !near(got, []float32{41. / 16}, 1e-6) || !slices.Equal(gap.Shape(), []int64{1, 1, 1, 1}) {
		t.Errorf("global average = %v %v", got, gap.Shape())
	}
	// AvgPool2d over the whole map is the same global average.
	whole := keep(t)(layer(t, nn.AvgPool2d{Kernel: 4}).Forward(x))
	if got := floats(t, whole); !near(got, []float32{41. / 16}, 1e-6) {
		t.Errorf("avgpool(4) = %v", got)
	}
}

func TestBatchNormTrainAndEval(t *testing.T) {
	bn := layer(t, nn.BatchNorm2d{Features: 1})
	names := func(ns []torch.Named) []string {
		var s []string
		for _, n := range ns {
			s = append(s, n.Name)
		}
		return s
	}
	if got := names(bn.StateDict()); !slices.Equal(got, []string{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}) {
		t.Errorf("state dict names = %v", got)
	}
	// Four samples of one channel, values 1..4: batch mean 2.5, biased
	// variance 1.25 (normalisation), unbiased variance 5/3 (running stats).
	x := keep(t)(torch.FromSlice([]float32{1, 2, 3, 4}, 4, 1, 1, 1))
	bn.Train(true)
	y := keep(t)(bn.Forward(x))
	var want []float32
	for _, v := range []float64{1, 2, 3, 4} {
		want = append(want, float32((v-2.5)/math.Sqrt(1.25+1e-5)))
	}
	if got := floats(t, y); !near(got, want, 1e-5) {
		t.Errorf("train mode = %v, want %v (batch statistics)", got, want)
	}
	// Running statistics after one batch with momentum 0.1.
	buf := bn.NamedBuffers()
	runMean, runVar := 0.1*2.5, 0.9*1+0.1*(5.0/3)
	if got := floats(t, buf[0].Tensor); !near(got, []float32{float32(runMean)}, 1e-6) {
		t.Errorf("running_mean = %v, want %v", got, runMean)
	}
	if got := floats(t, buf[1].Tensor); !near(got, []float32{float32(runVar)}, 1e-6) {
		t.Errorf("running_var = %v, want %v", got, runVar)
	}
	if n, _ := buf[2].Tensor.Int64s(); !slices.Equal(n, []int64{1}) {
		t.Errorf("num_batches_tracked = %v", n)
	}
	bn.Train(false)
	y = keep(t)(bn.Forward(x))
	want = want[:0]
	for _, v := range []float64{1, 2, 3, 4} {
		want = append(want, float32((v-runMean)/math.Sqrt(runVar+1e-5)))
	}
	if got := floats(t, y); !near(got, want, 1e-5) {
		t.Errorf("eval mode = %v, want %v (running statistics)", got, want)
	}
	if n, _ := buf[2].Tensor.Int64s(); !slices.Equal(n, []int64{1}) {
		t.Errorf("eval mode changed num_batches_tracked: %v", n)
	}

	plain := layer(t, nn.BatchNorm2d{Features: 3, NoAffine: true})
	if len(plain.NamedParameters()) != 0 || len(plain.NamedBuffers()) != 3 {
		t.Errorf("affine=False: %d parameters, %d buffers", len(plain.NamedParameters()), len(plain.NamedBuffers()))
	}
}

func TestDropout(t *testing.T) {
	if err := torch.ManualSeed(7); err != nil {
		t.Fatal(err)
	}
	const n, p = 100000, 0.3
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	x := keep(t)(torch.FromSlice(ones, n))
	d := layer(t, nn.Dropout{P: p})
	d.Train(true)
	got := floats(t, keep(t)(d.Forward(x)))
	zeros := 0
	for _, v := range got {
		switch {
		case v == 0:
			zeros++
		case math.Abs(float64(v)-1/(1-p)) > 1e-6:
			t.Fatalf("kept element = %v, want 1/(1-p) = %v", v, 1/(1-p))
		}
	}
	// Binomial(n, p): standard deviation √(np(1-p)) ≈ 145; allow 5σ.
	if math.Abs(float64(zeros)-n*p) > 5*math.Sqrt(n*p*(1-p)) {
		t.Errorf("%d of %d zeroed, want about %v", zeros, n, n*p)
	}
	d.Train(false)
	if got := floats(t, keep(t)(d.Forward(x))); !slices.Equal(got, ones) {
		t.Error("eval-mode dropout is not the identity")
	}
}

func TestLinearFlattenLogSoftmax(t *testing.T) {
	lin := layer(t, nn.Linear{In: 2, Out: 2})
	set(t, lin.NamedParameters()[0].Tensor, 1, 2, 3, 4) // W = [[1 2] [3 4]]
	set(t, lin.NamedParameters()[1].Tensor, 10, 20)
	x := keep(t)(torch.FromSlice([]float32{1, 1, 2, 0}, 2, 2))
	if got := floats(t, keep(t)(lin.Forward(x))); !slices.Equal(got, []float32{13, 27, 12, 26}) {
		t.Errorf("linear = %v", got)
	}
	flat := keep(t)(layer(t, nn.Flatten{}).Forward(keep(t)(torch.Zeros(torch.Float32, 2, 3, 4, 5))))
	if !slices.Equal(flat.Shape(), []int64{2, 60}) {
		t.Errorf("flatten shape = %v", flat.Shape())
	}
	lsm := keep(t)(layer(t, nn.LogSoftmax{Dim: 1}).Forward(keep(t)(torch.FromSlice([]float32{1, 2, 3}, 1, 3))))
	z := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
	want := []float32{float32(1 - z), float32(2 - z), float32(3 - z)}
	if got := floats(t, lsm); !near(got, want, 1e-6) {
		t.Errorf("log_softmax = %v, want %v", got, want)
	}
	relu := keep(t)(layer(t, nn.ReLU{}).Forward(keep(t)(torch.FromSlice([]float32{-1, 0, 2}, 3))))
	if got := floats(t, relu); !slices.Equal(got, []float32{0, 0, 2}) {
		t.Errorf("relu = %v", got)
	}
}

func TestInvalidSpecs(t *testing.T) {
	for _, s := range []nn.Spec{
		nn.Conv2d{In: 0, Out: 1, Kernel: 3},
		nn.Conv2d{In: 1, Out: 1, Kernel: 3, Padding: -1},
		nn.Conv2d{In: 4, Out: 6, Kernel: 3, Groups: 4},
		nn.Conv2d{In: 4, Out: 4, Kernel: 3, Groups: -1},
		nn.BatchNorm2d{},
		nn.Dropout{P: 1},
		nn.Dropout{P: -0.1},
		nn.MaxPool2d{},
		nn.AdaptiveAvgPool2d{},
		nn.Linear{In: 3},
	} {
		if l, err := nn.New(s); err == nil {
			l.Close()
			t.Errorf("%v built", s)
		}
	}
	if _, err := nn.NewSequential(nn.ReLU{}, nn.Dropout{P: 2}); err == nil || !strings.Contains(err.Error(), "layer 1") {
		t.Errorf("bad layer in a Sequential: %v", err)
	}
}

func TestShapeMismatchIsAnError(t *testing.T) {
	net, err := nn.NewSequential(nn.Conv2d{In: 1, Out: 4, Kernel: 3}, nn.ReLU{})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	threeChannels := keep(t)(torch.Zeros(torch.Float32, 2, 3, 8, 8))
	_, err = net.Forward(threeChannels)
	var te *torch.Error
	if !errors.As(err, &te) {
		t.Fatalf("conv on 3 channels: err = %v, want a *torch.Error", err)
	}
	// libtorch's message, with the layer named by Sequential.
	if !strings.Contains(te.Msg, "expected input[2, 3, 8, 8] to have 1 channels") || !strings.Contains(err.Error(), "layer 0") {
		t.Errorf("error = %v", err)
	}
	// The process and the module carry on.
	out := keep(t)(net.Forward(keep(t)(torch.Zeros(torch.Float32, 2, 1, 8, 8))))
	if !slices.Equal(out.Shape(), []int64{2, 4, 6, 6}) {
		t.Errorf("after the error: shape %v", out.Shape())
	}
}

func TestDefaultInitIsPyTorchs(t *testing.T) {
	// PyTorch initialises conv and linear weights and biases uniformly in
	// ±1/√fan_in (kaiming_uniform with a=√5 gives the same bound).
	conv := layer(t, nn.Conv2d{In: 4, Out: 64, Kernel: 3})
	bound := 1 / math.Sqrt(4*3*3)
	for _, p := range conv.NamedParameters() {
		vals := floats(t, p.Tensor)
		var lo, hi float32
		for _, v := range vals {
			lo, hi = min(lo, v), max(hi, v)
		}
		if float64(-lo) > bound || float64(hi) > bound || float64(hi-lo) < bound {
			t.Errorf("%s in [%v, %v], want spread over ±%v", p.Name, lo, hi, bound)
		}
	}
	bn := layer(t, nn.BatchNorm2d{Features: 3})
	sd := bn.StateDict()
	for i, want := range [][]float32{{1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}} {
		if got := floats(t, sd[i].Tensor); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", sd[i].Name, got, want)
		}
	}
}

func TestSpecStrings(t *testing.T) {
	// As PyTorch prints these modules.
	for _, tc := range []struct {
		s    nn.Spec
		want string
	}{
		{nn.Conv2d{In: 1, Out: 14, Kernel: 3, Padding: 1, NoBias: true}, "Conv2d(1, 14, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"},
		{nn.Conv2d{In: 8, Out: 8, Kernel: 3, Padding: 1, Groups: 8, NoBias: true}, "Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=8, bias=False)"},
		{nn.BatchNorm2d{Features: 14}, "BatchNorm2d(14, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"},
		{nn.MaxPool2d{Kernel: 2}, "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"},
		{nn.Dropout{P: 0.05}, "Dropout(p=0.05, inplace=False)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// Restoring libtorch's CPU generator state repeats the same dropout masks.
func TestRNGStateRepeatsDropout(t *testing.T) {
	ones := make([]float32, 1000)
	for i := range ones {
		ones[i] = 1
	}
	x := keep(t)(torch.FromSlice(ones, 1000))
	d := layer(t, nn.Dropout{P: 0.5})
	d.Train(true)
	state := keep(t)(torch.CPURNGState())
	a := floats(t, keep(t)(d.Forward(x)))
	b := floats(t, keep(t)(d.Forward(x)))
	if slices.Equal(a, b) {
		t.Fatal("two dropout passes drew the same mask")
	}
	if err := torch.SetCPURNGState(state); err != nil {
		t.Fatal(err)
	}
	if c := floats(t, keep(t)(d.Forward(x))); !slices.Equal(a, c) {
		t.Error("the restored state drew another mask")
	}
}

// Dropout2d, SiLU and GELU give PyTorch 1.13.1's own outputs, printed by:
//
//	x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.25, 1.0, 2.0, 4.0])
//	torch.nn.GELU()(x), torch.nn.GELU(approximate='tanh')(x), torch.nn.SiLU()(x)
//	torch.manual_seed(7)
//	y = torch.arange(1, 33, dtype=torch.float32).reshape(2, 4, 2, 2)
//	d = torch.nn.Dropout2d(0.5); d.train(); d(y)
//
// The dropout masks are the same because both draw from libtorch's CPU
// generator seeded alike.
func TestActivationsAndDropout2dMatchPyTorch(t *testing.T) {
	x := keep(t)(torch.FromSlice([]float32{-3, -1, -0.5, 0, 0.25, 1, 2, 4}, 8))
	for _, tc := range []struct {
		spec nn.Spec
		want []float32
	}{
		{nn.GELU{}, []float32{-0.004049867391586304, -0.1586552858352661, -0.1542687863111496, 0, 0.14967656135559082, 0.8413447141647339, 1.9544999599456787, 3.999873161315918}},
		{nn.GELU{Tanh: true}, []float32{-0.0036374330520629883, -0.15880799293518066, -0.1542859971523285, 0, 0.14967535436153412, 0.8411920070648193, 1.9545977115631104, 3.999929904937744}},
		{nn.SiLU{}, []float32{-0.14227761328220367, -0.2689414322376251, -0.1887703388929367, 0, 0.140544131398201, 0.7310585975646973, 1.7615940570831299, 3.9280550479888916}},
	} {
		if got := floats(t, keep(t)(layer(t, tc.spec).Forward(x))); !near(got, tc.want, 1e-7) {
			t.Errorf("%v = %v, PyTorch %v", tc.spec, got, tc.want)
		}
	}

	if err := torch.ManualSeed(7); err != nil {
		t.Fatal(err)
	}
	ramp := make([]float32, 32)
	for i := range ramp {
		ramp[i] = float32(i + 1)
	}
	y := keep(t)(torch.FromSlice(ramp, 2, 4, 2, 2))
	d := layer(t, nn.Dropout2d{P: 0.5})
	d.Train(true)
	want := []float32{2, 4, 6, 8, 10, 12, 14, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 52, 54, 56, 0, 0, 0, 0}
	if got := floats(t, keep(t)(d.Forward(y))); !slices.Equal(got, want) {
		t.Errorf("Dropout2d(0.5), seed 7 = %v, PyTorch %v", got, want)
	}
	d.Train(false)
	if got := floats(t, keep(t)(d.Forward(y))); !slices.Equal(got, ramp) {
		t.Error("eval-mode Dropout2d is not the identity")
	}
	if _, err := nn.New(nn.Dropout2d{P: 1}); err == nil {
		t.Error("Dropout2d p=1 accepted")
	}
}
