// Package cli is the train command's flags and its run: `go run ./train`
// calls Main, and the sweep command runs each of its runs through it, so a
// sweep's run is exactly the run `train` would do with the same flags.
//
// Each arch brings its recipe (epochs, batch size, lr, schedule, rotation);
// flags override it. `-h` lists the flags. Exit status: 0 success, 1 failure
// while running, 2 bad usage or bad input.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/train/engine"
)

// flagGroup is a titled group of flags for -h.
type flagGroup struct {
	title string
	set   *pflag.FlagSet
}

// options is the flag set, in groups for -h.
type options struct {
	groups  []flagGroup
	fs      *pflag.FlagSet
	pytorch bool
	export  bool
}

// recipeUsage is a recipe flag's help: its text and each built-in arch's
// value, read from the one Recipe struct.
func recipeUsage(f models.RecipeField) string {
	var parts []string
	for _, n := range models.Names() {
		a, _ := models.Lookup(n)
		r := a.Recipe
		v := r.Get(f)
		if f.Flag == "schedule" {
			v = r.ScheduleName()
		}
		parts = append(parts, fmt.Sprintf("%s %v", n, v))
	}
	return fmt.Sprintf("%s (default: the arch's recipe: %s)", f.Help, strings.Join(parts, ", "))
}

// newOptions registers the flags on c and the command's own settings on
// o, with c's values as the defaults. The recipe's flags come from
// models.Recipe's fields.
func newOptions(c *engine.Config, evalPath *string) *options {
	o := &options{fs: pflag.NewFlagSet("train", pflag.ContinueOnError)}
	group := func(title string) *pflag.FlagSet {
		s := pflag.NewFlagSet(title, pflag.ContinueOnError)
		s.SortFlags = false
		o.groups = append(o.groups, flagGroup{title, s})
		return s
	}

	g := group("Model and device")
	g.StringVar(&c.Arch, "arch", c.Arch, "architecture: "+strings.Join(models.Names(), ", ")+", or the path of an arch file (JSON; -export-arch writes one)")
	g.StringVar(&c.Device, "device", c.Device, "cpu, cuda, cuda:N, or auto (CUDA when this libtorch has it, else the CPU)")
	g.BoolVar(&c.CUDAGraphs, "cuda-graphs", c.CUDAGraphs, "on a GPU, capture the training step as a CUDA graph and replay it (--cuda-graphs=false launches every kernel)")
	g.IntVar(&c.Threads, "threads", c.Threads, fmt.Sprintf("libtorch threads (default: the cores, at most %d: more stop helping these small convolutions)", engine.MaxDefaultThreads))

	g = group("Recipe")
	for _, f := range models.RecipeFields() {
		switch p := c.Recipe.Ptr(f).(type) {
		case *int:
			g.IntVar(p, f.Flag, *p, recipeUsage(f))
		case *float64:
			g.Float64Var(p, f.Flag, *p, recipeUsage(f))
		case *string:
			g.StringVar(p, f.Flag, *p, recipeUsage(f))
		case *bool:
			g.BoolVar(p, f.Flag, *p, recipeUsage(f))
		default:
			panic(fmt.Sprintf("train: recipe field %s has a type no flag takes", f.Flag))
		}
	}
	g.Uint64Var(&c.Seed, "seed", c.Seed, "random seed (initialisation, shuffling, augmentation, dropout)")

	g = group("Data")
	g.StringVar(&c.DataDir, "data", c.DataDir, "folder with the four MNIST files, flat or in MNIST/raw/ (default: the bundled files, or $TINYDIGITS_DATA)")
	g.IntVar(&c.TestBatchSize, "test-batch-size", c.TestBatchSize, "evaluation batch size")
	g.IntVar(&c.Subset, "subset", c.Subset, "train on the first N training images only (0 = all 60,000)")
	g.IntVar(&c.Holdout, "holdout", c.Holdout, "hold out the last N training images and evaluate on them instead of the test set (for tuning)")
	g.IntVar(&c.Workers, "workers", c.Workers, "goroutines preparing each batch (a GPU run takes 2 unless this is given)")

	g = group("Output")
	g.StringVar(&c.Out, "out", c.Out, "run folder (default: runs/<arch>)")
	g.BoolVar(&c.SaveModel, "save-model", c.SaveModel, "write the final state dict to <out>/model.pt (--save-model=false to skip)")
	g.IntVar(&c.LogInterval, "log-interval", c.LogInterval, "batches between progress lines when the output is not a terminal")
	g.Float64Var(&c.Target, "target", c.Target, "test accuracy (%) the last 3 epochs are checked against")
	g.BoolVar(&c.Quiet, "quiet", c.Quiet, "no summary table and no per-batch progress")
	g.BoolVar(&c.DryRun, "dry-run", c.DryRun, "run one training and one test batch, write nothing")
	g.BoolVar(&c.Overwrite, "overwrite", c.Overwrite, "replace an earlier run in the run folder instead of refusing")
	g.BoolVar(&c.Continue, "continue", c.Continue, "start again safely: a finished run in the run folder is reported and kept, an unfinished one resumed, and only a new folder trains (-overwrite still starts over)")

	g = group("Resume, evaluate, export")
	g.IntVar(&c.StopAfter, "stop-after", c.StopAfter, "stop after this many epochs with the checkpoint, the schedule still the recipe's, for -resume to carry on exactly (0: run to the end)")
	g.StringVar(&c.Resume, "resume", c.Resume, "continue the run in this folder from its last finished epoch (-epochs N extends it, except a OneCycle run, whose schedule spans its epochs)")
	g.StringVar(evalPath, "eval", *evalPath, "evaluate a saved model.pt (or checkpoint.pt) on the test set instead of training")
	g.BoolVar(&o.pytorch, "pytorch", false, "print the arch as PyTorch Python code (to load model.pt with torch) and exit")
	g.BoolVar(&o.export, "export-arch", false, "print the arch, with the recipe and any recipe flags applied, as an arch file and exit")

	for _, gr := range o.groups {
		o.fs.AddFlagSet(gr.set)
	}
	o.fs.SetOutput(io.Discard)
	return o
}

// FlagNames lists train's flags by their long names, from its flag set:
// what the sweep's -set takes and refuses is checked against it.
func FlagNames() []string {
	c := helpConfig()
	var names []string
	newOptions(&c, new(string)).fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return names
}

// usage prints the grouped flags.
func (o *options) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: go run ./train [flags]\n\nTrains a network of the MNIST study. Flags take one dash or two: -arch step2, --arch=step2.\n")
	for _, gr := range o.groups {
		fmt.Fprintf(w, "\n%s:\n%s", gr.title, gr.set.FlagUsages())
	}
}

// helpConfig is what -h shows as defaults: recipe fields are left zero
// (their text names each arch's value) and the run folder follows the arch.
func helpConfig() engine.Config {
	c, _ := engine.DefaultConfig("step3")
	c.Recipe = models.Recipe{}
	c.Threads, c.Out = 0, ""
	return c
}

// errHelp is parse's answer to -h: the usage is printed, exit 0.
var errHelp = errors.New("help requested")

// parse reads the train flags into a Config in two passes: the first finds
// -arch (and catches bad flags), whose recipe sets the defaults of the
// second. Its errors are the command's one-line messages.
func parse(args []string, stdout io.Writer) (engine.Config, *options, string, error) {
	probe := helpConfig()
	var evalPath string
	o := newOptions(&probe, &evalPath)
	args = command.LongDashes(args, o.fs)
	if err := o.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			o.usage(stdout)
			return engine.Config{}, nil, "", errHelp
		}
		return engine.Config{}, nil, "", fmt.Errorf("%v (see -h)", err)
	}
	if o.fs.NArg() > 0 {
		return engine.Config{}, nil, "", fmt.Errorf("unexpected argument %q (see -h)", o.fs.Arg(0))
	}
	cfg, err := engine.DefaultConfig(probe.Arch)
	if err != nil {
		return engine.Config{}, nil, "", err
	}
	o = newOptions(&cfg, &evalPath)
	if err := o.fs.Parse(args); err != nil {
		return engine.Config{}, nil, "", fmt.Errorf("%v (see -h)", err)
	}
	cfg.Overridden = map[string]bool{}
	o.fs.Visit(func(f *pflag.Flag) { cfg.Overridden[f.Name] = true })
	return cfg, o, evalPath, nil
}

// Parse reads train flags into the run they describe, as Main would run
// it, and checks it (Config.Validate: the recipe and the run's settings;
// what depends on the data is checked when a run loads it). -eval,
// -pytorch and -export-arch are not runs and are refused.
func Parse(args []string) (engine.Config, error) {
	cfg, o, evalPath, err := parse(args, io.Discard)
	switch {
	case errors.Is(err, errHelp):
		return cfg, errors.New("-h is not a run")
	case err != nil:
		return cfg, err
	case evalPath != "" || o.pytorch || o.export:
		return cfg, errors.New("-eval, -pytorch and -export-arch are not training runs")
	}
	if _, err := cfg.Validate(); err != nil {
		return cfg, errors.New(command.OneLine(err))
	}
	return cfg, nil
}

// Main runs the train command with args (without the program name) and
// returns its exit status. Each option, if any, adjusts the parsed
// configuration before the run (the sweep uses one to watch the run's
// progress).
func Main(args []string, stdout, stderr io.Writer, options ...func(*engine.Config)) int {
	cfg, o, evalPath, err := parse(args, stdout)
	switch {
	case errors.Is(err, errHelp):
		return command.ExitOK
	case err != nil:
		fmt.Fprintf(stderr, "train: %v\n", command.OneLine(err))
		return command.ExitUsage
	}
	for _, opt := range options {
		opt(&cfg)
	}
	if o.pytorch || o.export {
		arch, err := cfg.Validate()
		if err != nil {
			fmt.Fprintf(stderr, "train: %v\n", command.OneLine(err))
			return command.ExitUsage
		}
		if o.export {
			stdout.Write(arch.MarshalFile())
			return command.ExitOK
		}
		py, _ := arch.PyTorch()
		fmt.Fprintf(stdout, "import torch\nimport torch.nn as nn\n\n%s", py)
		return command.ExitOK
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first signal stops at the next batch boundary; a second one
	// quits at once.
	defer command.OnInterrupt(func() {
		fmt.Fprintln(stderr, "\ntrain: stopping after this batch (Ctrl-C again to quit at once)")
		cancel()
	}, func() {
		fmt.Fprintln(stderr, "train: quit")
		os.Exit(command.ExitStopped)
	})()

	var err2 error
	if evalPath != "" {
		err2 = engine.Evaluate(ctx, evalPath, cfg, stdout)
	} else {
		_, err2 = engine.Run(ctx, cfg, stdout)
	}
	if err2 != nil {
		fmt.Fprintf(stderr, "train: %v\n", command.OneLine(err2))
		var intr *engine.Interrupted
		switch {
		case errors.As(err2, &intr):
			return command.ExitStopped
		case engine.IsInputError(err2):
			return command.ExitUsage
		}
		return command.ExitFailure
	}
	return command.ExitOK
}
