package engine

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
	"github.com/tinydigits/tinydigits/transforms"
)

// BenchResult is the throughput of the training step and of evaluation.
type BenchResult struct {
	TrainImgPerSec float64 `json:"train_img_per_s"`
	EvalImgPerSec  float64 `json:"eval_img_per_s"`
	TrainBatches   int     `json:"train_batches"`
	Threads        int     `json:"threads"`
}

// Bench measures cfg's arch as a training run does it: the real pipeline
// (shuffling, cfg.Rotate, normalisation, one copy into libtorch) and the
// real training step, over batches after warmup; then evaluation over the
// test set at cfg.TestBatchSize under no-grad. Nothing is written.
func Bench(ctx context.Context, cfg Config, warmup, batches int) (BenchResult, error) {
	arch, err := cfg.Validate()
	if err != nil {
		return BenchResult{}, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	device, err := startLibtorch(cfg, cfg.Threads)
	if err != nil {
		return BenchResult{}, err
	}
	ds, err := mnist.Load(cfg.DataDir)
	if err != nil {
		return BenchResult{}, &InputError{Err: err}
	}
	settle()
	torch.ManualSeed(cfg.Seed)
	net, err := arch.Build()
	if err != nil {
		return BenchResult{}, err
	}
	defer net.Close()
	if err := net.To(device); err != nil {
		return BenchResult{}, err
	}
	opt, err := optim.NewSGD(nn.Parameters(net), optim.SGDConfig{LR: cfg.LR, Momentum: cfg.Momentum})
	if err != nil {
		return BenchResult{}, err
	}
	defer opt.Close()
	train, err := transforms.NewLoader(ds.Train, transforms.LoaderConfig{BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Transform: trainTransform(cfg), Workers: cfg.Workers})
	if err != nil {
		return BenchResult{}, err
	}
	test, err := transforms.NewLoader(ds.Test, transforms.LoaderConfig{BatchSize: cfg.TestBatchSize, Transform: transforms.MNISTNormalize, Workers: cfg.Workers})
	if err != nil {
		return BenchResult{}, err
	}
	st := &stepper{net: net, opt: opt, device: device, smoothing: cfg.LabelSmoothing}
	net.Train(true)
	res := BenchResult{Threads: torch.NumThreads(), TrainBatches: batches}
	acc, err := torch.NewTally(device)
	if err != nil {
		return res, err
	}
	defer acc.Close()
	every := syncEvery(device, cfg.LogInterval)
	images, done := 0, 0
	var start time.Time
	for epoch := 0; done < warmup+batches; epoch++ {
		it := train.Epoch(epoch)
		for done < warmup+batches {
			if err := ctx.Err(); err != nil {
				it.Close()
				return res, err
			}
			b, ok := it.Next()
			if !ok {
				break
			}
			if done == warmup {
				if err := torch.Synchronize(device); err != nil {
					return res, err
				}
				start = time.Now()
			}
			if _, err := st.step(b, acc, (done+1)%every == 0); err != nil {
				it.Close()
				return res, fmt.Errorf("bench: %w", err)
			}
			if done >= warmup {
				images += b.N
			}
			done++
		}
		it.Close()
	}
	if err := torch.Synchronize(device); err != nil {
		return res, err
	}
	res.TrainImgPerSec = float64(images) / time.Since(start).Seconds()

	if _, _, err := st.evaluate(context.Background(), test, true); err != nil { // warm-up batch
		return res, err
	}
	t0 := time.Now()
	t, _, err := st.evaluate(context.Background(), test, false)
	if err != nil {
		return res, err
	}
	res.EvalImgPerSec = float64(t.seen) / time.Since(t0).Seconds()
	return res, nil
}
