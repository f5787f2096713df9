package engine

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/tinydigits/tinydigits/torch"
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
// real training step, over batches after warmup (at the recipe's lr, not
// stepped); then evaluation over the test set at cfg.TestBatchSize under
// no-grad. Nothing is written.
func Bench(ctx context.Context, cfg Config, warmup, batches int) (BenchResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The same session a training run builds: recipe, seed, optimizer,
	// pipeline and step cannot drift from Run's.
	s, err := newSession(cfg, false, nil)
	if err != nil {
		return BenchResult{}, err
	}
	defer s.close()
	st, device, train, test := s.st, s.device, s.trainLoader, s.testLoader
	st.hook, st.evalHook, st.lrAt = nil, nil, nil
	s.net.Train(true)
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

	if _, _, err := st.evaluate(context.Background(), st.net, test, true); err != nil { // warm-up batch
		return res, err
	}
	t0 := time.Now()
	t, _, err := st.evaluate(context.Background(), st.net, test, false)
	if err != nil {
		return res, err
	}
	res.EvalImgPerSec = float64(t.seen) / time.Since(t0).Seconds()
	return res, nil
}
