// Command gobench measures tinydigits' own training step and evaluation for
// scripts/bench.sh and prints one JSON line:
//
//	go run ./scripts/bench/gobench -threads 2 -batches 200
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/tinydigits/tinydigits/train/engine"
)

func main() {
	arch := pflag.String("arch", "step3", "architecture")
	threads := pflag.Int("threads", 1, "libtorch threads")
	warmup := pflag.Int("warmup", 20, "training batches before timing")
	batches := pflag.Int("batches", 200, "training batches timed")
	rotate := pflag.Float64("rotate", 7, "random rotation (± degrees) in the pipeline")
	workers := pflag.Int("workers", 1, "pipeline goroutines")
	systemMalloc := pflag.Bool("system-malloc", false, "leave glibc's malloc settings alone (no torch.KeepFreedMemory)")
	// The C++ and PyTorch loops this is compared with train plain SGD: the
	// step is timed without the recipe's weight averaging unless asked.
	ema := pflag.Float64("ema", 0, "average the weights after every step with this decay (0: off, whatever the recipe says)")
	pflag.Parse()
	cfg, err := engine.DefaultConfig(*arch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobench:", err)
		os.Exit(2)
	}
	cfg.Threads, cfg.Rotate, cfg.Workers, cfg.BatchSize = *threads, *rotate, *workers, 64
	cfg.SystemMalloc = *systemMalloc
	cfg.EMA, cfg.SWAStart, cfg.RecomputeBN = *ema, 0, false
	res, err := engine.Bench(context.Background(), cfg, *warmup, *batches)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobench:", err)
		os.Exit(1)
	}
	_, peak := engine.Memory()
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"impl": "go", "threads": res.Threads, "train_img_per_s": res.TrainImgPerSec,
		"eval_img_per_s": res.EvalImgPerSec, "peak_rss_mb": peak,
	})
}
