package nn_test

import (
	"bufio"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinydigits/tinydigits/internal/torchtest"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
)

// trainer runs training steps of a network with SGD, freeing everything each
// step makes.
type trainer struct {
	net *nn.Sequential
	opt *optim.SGD
}

func newTrainer(t *testing.T, lr float64, specs ...nn.Spec) *trainer {
	t.Helper()
	net := torchtest.Net(t, specs...)
	opt, err := optim.NewSGD(nn.Parameters(net), optim.SGDConfig{LR: lr, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(opt.Close)
	return &trainer{net: net, opt: opt}
}

func (tr *trainer) step(images []float32, shape []int64, labels []int64) (float64, error) {
	x, err := torch.FromSlice(images, shape...)
	if err != nil {
		return 0, err
	}
	defer x.Close()
	y, err := torch.FromSlice(labels, int64(len(labels)))
	if err != nil {
		return 0, err
	}
	defer y.Close()
	if err := tr.opt.ZeroGrad(); err != nil {
		return 0, err
	}
	out, err := tr.net.Forward(x)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	loss, err := nn.NLLLoss(out, y)
	if err != nil {
		return 0, err
	}
	defer loss.Close()
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	if err := tr.opt.Step(); err != nil {
		return 0, err
	}
	return loss.Item()
}

// vmRSS reads the resident set size of this process in bytes.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("VmRSS not found")
	return 0
}

// 2,000 training steps of a small conv net on 64×1×28×28 batches keep
// resident memory flat after warm-up, and every tensor handle made is freed.
func TestTrainingMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 training steps")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.ManualSeed(1)
	tr := newTrainer(t, 0.01, torchtest.SmallLayout(8, 10, 0)...)
	rng := rand.New(rand.NewPCG(1, 2))
	images := make([]float32, 64*28*28)
	for i := range images {
		images[i] = rng.Float32()
	}
	labels := make([]int64, 64)
	for i := range labels {
		labels[i] = rng.Int64N(10)
	}
	shape := []int64{64, 1, 28, 28}

	const warmup, steps = 200, 2000
	for range warmup {
		if _, err := tr.step(images, shape, labels); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	rss0, live0, fin0 := vmRSS(t), torch.LiveTensors(), torch.FinalizedTensors()
	start := time.Now()
	for range steps - warmup {
		if _, err := tr.step(images, shape, labels); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	rss1, live1, fin1 := vmRSS(t), torch.LiveTensors(), torch.FinalizedTensors()
	t.Logf("%d steps after %d warm-up: %.0f steps/s (%d threads); RSS %.1f → %.1f MB",
		steps-warmup, warmup, float64(steps-warmup)/elapsed.Seconds(), torch.NumThreads(),
		float64(rss0)/(1<<20), float64(rss1)/(1<<20))
	if growth := rss1 - rss0; growth > 20<<20 {
		t.Errorf("resident memory grew by %.1f MB over %d steps", float64(growth)/(1<<20), steps-warmup)
	}
	// Every leaked handle is either still open or was freed by the finalizer.
	if leaked := (live1 - live0) + (fin1 - fin0); leaked != 0 {
		t.Errorf("%d tensor handles leaked", leaked)
	}
}

// bars makes n 1×12×12 images of a horizontal (label 0) or vertical (label
// 1) bar at a random place, under noise.
func bars(rng *rand.Rand, n int) ([]float32, []int64) {
	images := make([]float32, n*144)
	labels := make([]int64, n)
	for i := range n {
		img := images[i*144 : (i+1)*144]
		for j := range img {
			img[j] = float32(rng.NormFloat64() * 0.3)
		}
		label := rng.Int64N(2)
		at := 2 + rng.IntN(8)
		for k := 1; k < 11; k++ {
			if label == 0 {
				img[at*12+k] += 1
			} else {
				img[k*12+at] += 1
			}
		}
		labels[i] = label
	}
	return images, labels
}

// A small conv net learns a synthetic, learnable two-class task.
func TestTrainingLearns(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.ManualSeed(5)
	tr := newTrainer(t, 0.05,
		nn.Conv2d{In: 1, Out: 4, Kernel: 3},
		nn.ReLU{},
		nn.MaxPool2d{Kernel: 2},
		nn.Conv2d{In: 4, Out: 8, Kernel: 3},
		nn.ReLU{},
		nn.AdaptiveAvgPool2d{Size: 1},
		nn.Flatten{},
		nn.Linear{In: 8, Out: 2},
		nn.LogSoftmax{Dim: 1},
	)
	rng := rand.New(rand.NewPCG(3, 4))
	var first, last float64
	for step := range 300 {
		images, labels := bars(rng, 32)
		loss, err := tr.step(images, []int64{32, 1, 12, 12}, labels)
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = loss
		}
		last = loss
	}
	images, labels := bars(rng, 1000)
	tr.net.Train(false)
	var correct float64
	err := torch.NoGrad(func() error {
		x, err := torch.FromSlice(images, 1000, 1, 12, 12)
		if err != nil {
			return err
		}
		defer x.Close()
		y, _ := torch.FromSlice(labels, 1000)
		defer y.Close()
		out, err := tr.net.Forward(x)
		if err != nil {
			return err
		}
		defer out.Close()
		pred, _ := out.Argmax(1, false)
		defer pred.Close()
		eq, _ := pred.Eq(y)
		defer eq.Close()
		sum, _ := eq.Sum()
		defer sum.Close()
		correct, err = sum.Item()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	acc := correct / 1000
	t.Logf("loss %.3f → %.3f; held-out accuracy %.1f%%", first, last, 100*acc)
	if acc < 0.95 {
		t.Errorf("held-out accuracy %.1f%%, want ≥ 95%%", 100*acc)
	}
}
