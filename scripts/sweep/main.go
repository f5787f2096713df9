// Command sweep tabulates a sweep's runs, one per seed:
//
//	go run ./scripts/sweep runs/sweep-tiny > runs/sweep-tiny/SWEEP.md
//
// It reads DIR/seed*/summary.json (as scripts/sweep.sh writes them) and
// prints, per seed, the best accuracy and the last three epochs', then their
// mean and sample standard deviation over the seeds.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/train/engine"
)

// meanStd is the mean and the sample standard deviation (0 for one value).
func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)-1))
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/sweep DIR (holding seed*/summary.json)")
		os.Exit(2)
	}
	if err := table(os.Stdout, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "sweep:", err)
		os.Exit(2)
	}
}

func table(w io.Writer, dir string) error {
	paths, _ := filepath.Glob(filepath.Join(dir, "seed*", "summary.json"))
	var runs []engine.Result
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var s engine.Result // what train wrote as summary.json
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		if len(s.LastTestAccs) == 0 {
			return fmt.Errorf("%s: no finished epochs", p)
		}
		runs = append(runs, s)
	}
	if len(runs) == 0 {
		return fmt.Errorf("no finished runs in %s (seed*/summary.json)", dir)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Seed < runs[j].Seed })
	first := runs[0]
	for _, r := range runs[1:] {
		if r.Arch != first.Arch {
			return fmt.Errorf("the runs are of different archs (%s, %s)", first.Arch, r.Arch)
		}
	}
	on := first.EvaluatedOn
	if on == "" {
		on = "test"
	}
	fmt.Fprintf(w, "%s, %s parameters: %d seeds, %s accuracy (%d images), %s, %d threads\n\n",
		first.Arch, models.Thousands(first.Params), len(runs), on, first.TestImages, first.Device, first.Threads)
	fmt.Fprintf(w, "| seed | best %% (epoch) | last 3 epochs %% | lowest of last 3 | all last 3 ≥ %.2f%% | wall time |\n", first.Target)
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	var best, last, lowest, walls []float64
	held := 0
	for _, r := range runs {
		low := r.LastTestAccs[0]
		parts := make([]string, len(r.LastTestAccs))
		for i, a := range r.LastTestAccs {
			parts[i] = fmt.Sprintf("%.2f", a)
			low = min(low, a)
			last = append(last, a)
		}
		verdict := "no"
		if r.Consistent {
			verdict = "yes"
			held++
		}
		best = append(best, r.BestTestAcc)
		lowest = append(lowest, low)
		walls = append(walls, r.WallSeconds)
		fmt.Fprintf(w, "| %d | %.2f (%d) | %s | %.2f | %s | %.1f min |\n", r.Seed, r.BestTestAcc, r.BestEpoch, strings.Join(parts, ", "), low, verdict, r.WallSeconds/60)
	}
	bm, bs := meanStd(best)
	lm, ls := meanStd(last)
	wm, _ := meanStd(walls)
	lo := lowest[0]
	for _, x := range lowest {
		lo = min(lo, x)
	}
	fmt.Fprintf(w, "| mean ± sd | %.2f ± %.2f | %.2f ± %.2f (all %d) | %.2f (lowest) | %d of %d | %.1f min |\n", bm, bs, lm, ls, len(last), lo, held, len(runs), wm/60)
	recipe, _, _ := strings.Cut(first.RecipeLine, ", seed ") // each run has its own seed
	fmt.Fprintf(w, "\nrecipe: %s\n", recipe)
	return nil
}
