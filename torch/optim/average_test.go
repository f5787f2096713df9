package optim_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/torchtest"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
)

// withPrefix returns the entries named prefix+name, without the prefix.
func withPrefix(items []torch.Named, prefix string) []torch.Named {
	var out []torch.Named
	for _, n := range items {
		if name, ok := strings.CutPrefix(n.Name, prefix); ok {
			out = append(out, torch.Named{Name: name, Tensor: n.Tensor})
		}
	}
	return out
}

// loadFixture reads testdata/average.pt, as a list and by name; the
// tensors are closed when the test ends.
func loadFixture(t *testing.T) ([]torch.Named, map[string]*torch.Tensor) {
	t.Helper()
	file := torchtest.LoadFile(t, "testdata/average.pt")
	byName := map[string]*torch.Tensor{}
	for _, n := range file {
		byName[n.Name] = n.Tensor
	}
	return file, byName
}

// testdata/average.pt holds forty SGD steps of a small net with BatchNorm and
// the state dicts of PyTorch's AveragedModel (use_buffers=True) after an
// update per step: an EMA with decay 0.8 (its warm-up covers the first 35
// updates) and the equal average.
const steps = 40

func TestAverageMatchesPyTorch(t *testing.T) {
	t.Run("numbers", func(t *testing.T) { averageMatchesPyTorch(t, false) })
	// The rate and the averages' weights read from scalar tensors, as a
	// step captured into a CUDA graph reads them: Prepare writes the
	// weight, Apply averages, Counted counts.
	t.Run("tensors", func(t *testing.T) { averageMatchesPyTorch(t, true) })
}

func averageMatchesPyTorch(t *testing.T, tensors bool) {
	file, byName := loadFixture(t)
	net, ema, swa := torchtest.SmallNet(t), torchtest.SmallNet(t), torchtest.SmallNet(t)
	for _, m := range []*nn.Sequential{net, ema, swa} {
		// Start every copy from the script's initial weights; the averages
		// must not depend on what their networks held before the first update.
		if err := nn.LoadStateDict(m, withPrefix(file, "init.")); err != nil {
			t.Fatal(err)
		}
	}
	opt, err := optim.NewSGD(nn.Parameters(net), optim.SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	e := mustAverage(t, ema, net, 0.8)
	s := mustAverage(t, swa, net, 0)
	update := func(a *optim.Average) error { return a.Update() }
	if tensors {
		var scalars []*torch.Tensor
		for range 3 {
			v, _ := torch.FromSlice([]float32{-7})
			defer v.Close()
			scalars = append(scalars, v)
		}
		if err := opt.ReadLRFrom(scalars[0]); err != nil {
			t.Fatal(err)
		}
		e.ReadWeightFrom(scalars[1])
		s.ReadWeightFrom(scalars[2])
		update = func(a *optim.Average) error {
			if err := a.Prepare(); err != nil {
				return err
			}
			if err := a.Apply(); err != nil {
				return err
			}
			a.Counted()
			return nil
		}
	}
	net.Train(true)
	for i := range steps {
		x, y := byName[fmt.Sprintf("x%d", i)], byName[fmt.Sprintf("y%d", i)]
		if x == nil || y == nil {
			t.Fatalf("batch %d missing from the fixture", i)
		}
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		out, err := net.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		loss, err := nn.NLLLoss(out, y)
		if err != nil {
			t.Fatal(err)
		}
		backwardStep(t, opt, out, loss)
		if err := update(e); err != nil {
			t.Fatal(err)
		}
		if err := update(s); err != nil {
			t.Fatal(err)
		}
	}
	if e.Count() != steps || s.Count() != steps {
		t.Errorf("counts %d and %d, want %d", e.Count(), s.Count(), steps)
	}
	for _, c := range []struct {
		prefix string
		m      *nn.Sequential
	}{{"net.", net}, {"ema.", ema}, {"swa.", swa}} {
		checked := 0
		for _, n := range c.m.StateDict() {
			got, err := n.Tensor.Float64s()
			if strings.HasSuffix(n.Name, "num_batches_tracked") {
				// A counter is copied from the trained net: PyTorch runs its
				// average function on it too, which truncates to a meaningless
				// integer; the net's own count is the number of steps.
				v, _ := n.Tensor.Int64s()
				if len(v) != 1 || v[0] != steps {
					t.Errorf("%s%s = %v, want the trained net's %d", c.prefix, n.Name, v, steps)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			ref := byName[c.prefix+n.Name]
			if ref == nil {
				t.Fatalf("%s%s missing from the fixture", c.prefix, n.Name)
			}
			want, err := ref.Float64s()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s%s: %d values, PyTorch %d", c.prefix, n.Name, len(got), len(want))
			}
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-5*(1+math.Abs(want[i])) {
					t.Errorf("%s%s[%d] = %.7g, PyTorch %.7g", c.prefix, n.Name, i, got[i], want[i])
					break
				}
			}
			checked++
		}
		if checked != 7 {
			t.Errorf("%s: compared %d entries, want 7", c.prefix, checked)
		}
	}
}

// mustAverage is optim.NewAverage, failing the test on an error.
func mustAverage(t *testing.T, avg, src nn.Module, decay float64) *optim.Average {
	t.Helper()
	a, err := optim.NewAverage(avg, src, decay)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAverageWeights(t *testing.T) {
	a, b := torchtest.SmallNet(t), torchtest.SmallNet(t)
	ema := mustAverage(t, a, b, 0.999)
	swa := mustAverage(t, a, b, 0)
	for n, want := range []float64{1, 0.5, 1.0 / 3, 0.25} {
		if w := swa.Weight(); math.Abs(w-want) > 1e-15 {
			t.Errorf("equal average, update %d: weight %g, want %g", n+1, w, want)
		}
		if err := swa.Update(); err != nil {
			t.Fatal(err)
		}
	}
	// The warm-up: 1 − min(0.999, (1 + n)/(10 + n)) after n updates.
	for n, want := range []float64{1, 9.0 / 11, 9.0 / 12, 9.0 / 13} {
		if w := ema.Weight(); math.Abs(w-want) > 1e-12 {
			t.Errorf("EMA, update %d: weight %g, want %g", n+1, w, want)
		}
		if err := ema.Update(); err != nil {
			t.Fatal(err)
		}
	}
	// (1 + n)/(10 + n) passes 0.999 after 8,991 updates.
	for n, want := range map[int64]float64{8990: 1 - 8991.0/9000, 8991: 0.001, 100_000: 0.001} {
		if err := ema.SetCount(n); err != nil {
			t.Fatal(err)
		}
		if w := ema.Weight(); math.Abs(w-want) > 1e-12 {
			t.Errorf("EMA after %d updates: weight %g, want %g", n, w, want)
		}
	}
	if ema.SetCount(-1) == nil {
		t.Error("a negative count accepted")
	}
	for _, d := range []float64{-0.1, 1, math.NaN()} {
		if _, err := optim.NewAverage(a, b, d); err == nil {
			t.Errorf("decay %g accepted", d)
		}
	}
	other, err := nn.NewSequential(nn.Conv2d{In: 1, Out: 2, Kernel: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := optim.NewAverage(other, b, 0.9); err == nil {
		t.Error("networks of different layouts accepted")
	}
}

// After the equal average of testdata/average.pt, PyTorch's update_bn
// recomputed its BatchNorm statistics over three more batches: the
// cumulative average of their batch statistics.
func TestRecomputeBatchNormMatchesPyTorch(t *testing.T) {
	file, byName := loadFixture(t)
	net := torchtest.SmallNet(t)
	if err := nn.LoadStateDict(net, withPrefix(file, "swa.")); err != nil {
		t.Fatal(err)
	}
	batches := 0
	err := nn.RecomputeBatchNorm(net, func(forward func(*torch.Tensor) error) error {
		for i := range 3 {
			if err := forward(byName[fmt.Sprintf("bn%d", i)]); err != nil {
				return err
			}
			batches++
		}
		return nil
	})
	if err != nil || batches != 3 {
		t.Fatalf("%v after %d batches", err, batches)
	}
	for _, name := range []string{"1.running_mean", "1.running_var", "0.weight"} {
		var got []float64
		for _, n := range net.StateDict() {
			if n.Name == name {
				got, _ = n.Tensor.Float64s()
			}
		}
		want, err := byName["swa_bn."+name].Float64s()
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: %v, %d values vs %d", name, err, len(got), len(want))
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-5*(1+math.Abs(want[i])) {
				t.Errorf("%s[%d] = %.7g, PyTorch %.7g", name, i, got[i], want[i])
			}
		}
	}
	if net.Layers[0].IsTraining() {
		t.Error("the net was left in training mode")
	}
	// The momentum is back: one more training batch moves the statistics as
	// it moves those of a net built with them (momentum 0.1), not by a
	// quarter of the way as the cumulative average would.
	fresh := torchtest.SmallNet(t)
	if err := nn.LoadStateDict(fresh, withPrefix(file, "swa_bn.")); err != nil {
		t.Fatal(err)
	}
	mean := func(m *nn.Sequential) []float64 {
		m.Train(true)
		out, err := m.Forward(byName["x0"])
		if err != nil {
			t.Fatal(err)
		}
		out.Close()
		v, _ := m.StateDict()[3].Tensor.Float64s() // 1.running_mean
		return v
	}
	a, b := mean(net), mean(fresh)
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-6 {
			t.Fatalf("after one more batch: running mean %v, a net with momentum 0.1 %v", a, b)
		}
	}
}
