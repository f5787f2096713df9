package engine

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch"
)

// announce writes arch.json (the net and the recipe as run: the folder
// needs no registry entry) and prints the banner and the summary table.
func (r *run) announce(ck *runfolder.Checkpoint) error {
	cfg := r.cfg
	if !cfg.DryRun {
		if err := runfolder.WriteArch(cfg.Out, r.arch); err != nil {
			return err
		}
	}
	banner(r.out, cfg, r.arch, r.res, r.ds, r.device, r.train.Len(), r.eval.Len(), r.testBatch)
	if r.device.IsCUDA() && !cfg.DryRun {
		switch {
		case !cfg.CUDAGraphs:
			fmt.Fprintf(r.out, "CUDA graphs: off%s: every kernel is launched from the host\n", cfg.mark("cuda-graphs"))
		case r.graphs != "":
			fmt.Fprintf(r.out, "CUDA graphs: off: %s\n", r.graphs)
		default:
			fmt.Fprintf(r.out, "CUDA graphs: the training step at batch %d is captured after %d eager steps and replayed; smaller batches run eagerly\n", cfg.BatchSize, graphWarmup)
		}
	}
	switch {
	case ck != nil && r.first >= cfg.Epochs:
		fmt.Fprintf(r.out, "finishing %s: its checkpoint holds the last epoch (%d of %d); writing the model, the pictures and the summary\n", cfg.Out, r.first, cfg.Epochs)
	case ck != nil:
		fmt.Fprintf(r.out, "resuming %s after epoch %d of %d\n", cfg.Out, r.first, cfg.Epochs)
	}
	if !cfg.Quiet {
		summary, err := r.arch.Summary()
		if err != nil {
			return err
		}
		fmt.Fprint(r.out, summary.String())
	}
	return nil
}

// banner prints the start-up lines: arch, libtorch and device, data,
// recipe. Values set by a flag are marked with *.
func banner(out io.Writer, cfg Config, arch models.Arch, res *runfolder.Result, ds *mnist.Dataset, device torch.Device, trainN, evalN, testBatch int) {
	mark := cfg.mark
	fmt.Fprintf(out, "tinydigits: %s, %s parameters (%s)\n", arch.Name, models.Thousands(res.Params), arch.Description)
	fmt.Fprintf(out, "libtorch %s, device %s%s, %s%s, %s\n", res.Libtorch, torch.Describe(device), mark("device"),
		command.Plural(res.Threads, "thread"), mark("threads"), command.Plural(cfg.Workers, "pipeline goroutine"))
	check := "checksums not verified (raw files)"
	if ds.Verified {
		check = "MD5 verified"
	}
	subset := ""
	if cfg.Subset > 0 {
		subset = fmt.Sprintf(": the first %d%s", cfg.Subset, mark("subset"))
	}
	if cfg.Holdout > 0 {
		fmt.Fprintf(out, "data: %s (%d train images%s; the last %d%s training images held out for validation; the test set unused; %s)\n",
			ds.Dir, trainN, subset, evalN, mark("holdout"), check)
	} else {
		fmt.Fprintf(out, "data: %s (%d train images%s, %d test images; %s)\n", ds.Dir, trainN, subset, evalN, check)
	}
	if testBatch < cfg.TestBatchSize {
		fmt.Fprintf(out, "evaluation batch: %d (-test-batch-size %d is more than the %d images evaluated)\n", testBatch, cfg.TestBatchSize, evalN)
	}
	for _, w := range ds.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	fmt.Fprintf(out, "recipe: %s\n", res.RecipeLine)
}

// report prints the closing lines.
func report(r *runfolder.Result, out io.Writer, cfg Config) {
	fmt.Fprintln(out, verdict(r, cfg.Target))
	fmt.Fprintf(out, "%s parameters, %s wall time; wrote %s\n", models.Thousands(r.Params), duration(r.WallSeconds), cfg.Out)
}

// verdict is a finished run in one line: its best accuracy and its last
// epochs against the target.
func verdict(r *runfolder.Result, target float64) string {
	accs := make([]string, len(r.LastTestAccs))
	for i, a := range r.LastTestAccs {
		accs[i] = fmt.Sprintf("%.2f", a)
	}
	yes := "yes"
	if !r.Consistent {
		yes = "no"
	}
	last := fmt.Sprintf("last %d epochs %s%%; ≥ %.2f%% in each of them", len(accs), strings.Join(accs, ", "), target)
	if len(accs) == 1 {
		last = fmt.Sprintf("last epoch %s%%; ≥ %.2f%%", accs[0], target)
	}
	return fmt.Sprintf("best %s accuracy %.2f%% (epoch %d); %s: %s", r.EvaluatedOn, r.BestTestAcc, r.BestEpoch, last, yes)
}

// duration writes seconds as "42 s" or "5.1 min".
func duration(secs float64) string {
	if secs < 60 {
		return fmt.Sprintf("%.0f s", secs)
	}
	return fmt.Sprintf("%.1f min", secs/60)
}

// recipeLine describes the resolved recipe, marking overridden values.
func (c *Config) recipeLine() string {
	mark := c.mark
	sched := "constant lr"
	switch c.schedule() {
	case models.ScheduleStep:
		sched = fmt.Sprintf("StepLR(step %d%s, gamma %g%s)", c.StepSize, mark("step-size"), c.Gamma, mark("gamma"))
	case models.ScheduleOneCycle:
		sched = fmt.Sprintf("OneCycle(peak at %g%% of the steps%s)", 100*c.PctStart, mark("pct-start"))
	}
	if c.WeightDecay > 0 {
		sched += fmt.Sprintf(", weight decay %g%s", c.WeightDecay, mark("weight-decay"))
	}
	if c.LabelSmoothing > 0 {
		sched += fmt.Sprintf(", label smoothing %g%s", c.LabelSmoothing, mark("label-smoothing"))
	}
	var aug []string
	if c.Rotate > 0 {
		aug = append(aug, fmt.Sprintf("rotation ±%g°%s", c.Rotate, mark("rotate")))
	}
	if c.Translate > 0 {
		aug = append(aug, fmt.Sprintf("translation ±%g%s", c.Translate, mark("translate")))
	}
	rot := "no augmentation"
	if len(aug) > 0 {
		rot = strings.Join(aug, " and ")
	}
	nesterov := ""
	if c.Nesterov {
		nesterov = " (Nesterov" + mark("nesterov") + ")"
	}
	line := fmt.Sprintf("%d epochs%s, batch %d%s, SGD lr %g%s momentum %g%s%s, %s, %s",
		c.Epochs, mark("epochs"), c.BatchSize, mark("batch-size"), c.LR, mark("lr"),
		c.Momentum, mark("momentum"), nesterov, sched, rot)
	bn := ""
	if c.RecomputeBN {
		bn = ", BatchNorm statistics recomputed" + mark("recompute-bn")
	}
	switch c.Averaging() {
	case "ema":
		line += fmt.Sprintf(", weights averaged (EMA %g%s%s)", c.EMA, mark("ema"), bn)
	case "swa":
		line += fmt.Sprintf(", weights averaged (SWA from epoch %d%s%s)", c.SWAStart, mark("swa-start"), bn)
	}
	// Fields the words above do not cover yet show as "flag value".
	for _, f := range models.RecipeFields() {
		if !describedFields[f.Flag] {
			if v := c.Recipe.Get(f); !reflect.ValueOf(v).IsZero() {
				line += fmt.Sprintf(", %s %v%s", f.Flag, v, mark(f.Flag))
			}
		}
	}
	return line + fmt.Sprintf(", seed %d%s", c.Seed, mark("seed"))
}

// describedFields are the recipe fields recipeLine puts in words.
var describedFields = map[string]bool{"epochs": true, "batch-size": true, "lr": true, "momentum": true, "schedule": true,
	"step-size": true, "gamma": true, "pct-start": true, "weight-decay": true, "label-smoothing": true, "rotate": true,
	"nesterov": true, "translate": true, "ema": true, "swa-start": true, "recompute-bn": true}
