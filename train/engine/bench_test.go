package engine

import (
	"runtime"
	"sync"
	"testing"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
	"github.com/tinydigits/tinydigits/transforms"
)

// benchData loads MNIST once for all benchmark runs.
var benchData = sync.OnceValues(func() (*mnist.Dataset, error) { return mnist.Load("") })

// BenchmarkTrainStep times one step3 training step (batch 64, ±7° rotation
// through the real pipeline, SGD) with the process's default threads, the
// way a run trains; it reports images/s.
func BenchmarkTrainStep(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.KeepFreedMemory()
	torch.SetNumThreads(runtime.NumCPU())
	ds, err := benchData()
	if err != nil {
		b.Fatal(err)
	}
	net, err := models.New("step3")
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	opt, _ := optim.NewSGD(nn.Parameters(net), optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	defer opt.Close()
	loader, _ := transforms.NewLoader(ds.Train, transforms.LoaderConfig{
		BatchSize: 64, Shuffle: true, Seed: 1,
		Transform: transforms.Compose{transforms.RandomRotation{Degrees: 7}, transforms.MNISTNormalize},
	})
	st := &stepper{net: net, opt: opt, device: torch.CPU}
	acc, _ := torch.NewTally(torch.CPU)
	defer acc.Close()
	net.Train(true)
	stream := loader.Stream()
	next := stream.Next
	for range 10 { // warm-up
		st.step(next(), acc, true)
	}
	settle() // no garbage collection during the timing
	images := 0
	b.ResetTimer()
	for range b.N {
		batch := next()
		if _, err := st.step(batch, acc, true); err != nil {
			b.Fatal(err)
		}
		images += batch.N
	}
	b.StopTimer()
	stream.Close()
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkEMAUpdate times one update of step3's averaged weights (-ema:
// after every training step, 30 tensors of 8,442 parameters and the
// BatchNorm statistics), to set beside BenchmarkTrainStep's step.
func BenchmarkEMAUpdate(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.SetNumThreads(runtime.NumCPU())
	net, err := models.New("step3")
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	avgNet, err := models.New("step3")
	if err != nil {
		b.Fatal(err)
	}
	defer avgNet.Close()
	avg, err := optim.NewAverage(avgNet, net, 0.999)
	if err != nil {
		b.Fatal(err)
	}
	avg.Update() // the first update copies; time the averaging ones
	b.ResetTimer()
	for range b.N {
		if err := avg.Update(); err != nil {
			b.Fatal(err)
		}
	}
}
