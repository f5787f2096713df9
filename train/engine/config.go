package engine

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
)

// Config is one training run. DefaultConfig fills it with an arch's recipe
// and the defaults; change fields to override them.
type Config struct {
	// Arch names the net: a registered name or an arch file's path.
	Arch string
	// Net is the arch itself once resolved (DefaultConfig and -resume set
	// it); when nil, or named otherwise than Arch, Run resolves Arch.
	Net *models.Arch
	// Recipe is how the net trains: the arch's recipe with the overrides
	// applied. Its fields are promoted (cfg.LR, cfg.Epochs).
	models.Recipe

	Device        string // cpu, cuda, cuda:N or auto
	TestBatchSize int
	Seed          uint64
	Threads       int // libtorch intra-op threads
	Workers       int // data pipeline goroutines
	// CUDAGraphs captures the training step as a CUDA graph on a GPU and
	// replays it (where the build can; see torch.CUDAGraphsUnsupported).
	CUDAGraphs bool

	DataDir string // MNIST folder; "" = the bundled files
	Subset  int    // train on the first Subset images only (0 = all)
	// Holdout evaluates on the last Holdout training images instead of the
	// test set, and trains on the others: for tuning without the test set.
	Holdout int
	Out     string // run folder

	LogInterval int // batches between plain progress lines
	SaveModel   bool
	DryRun      bool    // one train and one test batch, nothing written
	Target      float64 // test accuracy (%) to report against
	Quiet       bool    // no per-batch progress

	// Progress forces the terminal progress bar on (true) or off (false);
	// nil decides from whether the output is a terminal.
	Progress *bool
	// Events, when set, is told where the run starts, of every training
	// batch and of every finished epoch: the sweep watches its runs through
	// it. It is called on the training goroutine, so it must be quick.
	Events func(Event) `json:"-"`

	// SystemMalloc leaves glibc's malloc settings alone; by default a run
	// calls torch.KeepFreedMemory, which makes training much faster.
	SystemMalloc bool

	// Resume continues the run in this folder (or checkpoint file) from its
	// last finished epoch, with the recipe it started with.
	Resume string
	// Overwrite replaces an earlier run in Out instead of refusing.
	Overwrite bool
	// StopAfter, when positive and below the recipe's epochs, stops the run
	// after that many epochs with its checkpoint, as a signal would, but on
	// purpose: the run's schedule stays the recipe's, and -resume carries it
	// on exactly (a search's rungs). Run then returns with no error and no
	// summary.json.
	StopAfter int
	// Continue makes a run of Out safe to start again: a finished run there
	// is reported and kept, an unfinished one is resumed as it started, and
	// only an empty folder trains afresh (Overwrite still starts over).
	Continue bool

	// Overridden names the fields set by hand (flag names, e.g. "lr"); the
	// start-up banner marks them, and a resumed run refuses recipe changes.
	Overridden map[string]bool

	// afterBatch, when set (by tests), runs after every training step;
	// afterEvalBatch after every evaluation batch is queued.
	afterBatch     func(epoch, batch int, s *stepper)
	afterEvalBatch func(batch int)
	// emulateGraphs (tests) trains through the CUDA graph step on any
	// device, running its body eagerly where a GPU would replay it, and
	// keeps the evaluation set on the device as a GPU run does.
	emulateGraphs bool
}

func inputErr(format string, args ...any) error {
	return &runfolder.InputError{Err: fmt.Errorf(format, args...)}
}

// IsInputError reports whether err is (or wraps) a runfolder.InputError:
// bad input, which the commands report in one line with exit status 2.
func IsInputError(err error) bool { return runfolder.IsInputError(err) }

// MaxDefaultThreads caps a run's default thread count. Measured on the
// study's nets (BENCHMARKS.md, "Sweeps"): a second thread makes step3's
// training 1.29× faster, which puts the part that threads speed up at
// about 45%, so by Amdahl's law 4 threads can add at most 17% over 2 and 8
// at most 9% over 4, before the cost of waking more threads; 16 threads on
// a 16-core Xeon trained at 1,910 img/s, below 2 threads on a 2-core EPYC
// (3,613). Cores beyond the cap serve a sweep better, one run per core.
const MaxDefaultThreads = 4

// DefaultThreads is a run's default libtorch thread count: the cores, at
// most MaxDefaultThreads.
func DefaultThreads() int { return min(runtime.NumCPU(), MaxDefaultThreads) }

// DefaultConfig is a run of the arch (a registered name or an arch file's
// path) with its recipe: 1,000 test images a batch, seed 1, DefaultThreads, one
// pipeline goroutine, the bundled MNIST, runs/<arch> (DefaultOut), target
// 99.4%, the model saved.
func DefaultConfig(arch string) (Config, error) {
	a, err := models.Resolve(arch)
	if err != nil {
		return Config{}, &runfolder.InputError{Err: err}
	}
	return Config{
		Arch:          arch,
		Net:           &a,
		Recipe:        a.Recipe.WithDefaults(),
		Device:        "auto",
		TestBatchSize: 1000,
		Seed:          1,
		Threads:       DefaultThreads(),
		Workers:       1,
		CUDAGraphs:    true,
		Out:           DefaultOut(arch),
		LogInterval:   100,
		SaveModel:     true,
		Target:        99.4,
	}, nil
}

// DefaultOut is a run's default folder: runs/NAME for a registered net,
// runs/FILE for an arch file (its file name without .json), so that an
// edited copy of a built-in net, which keeps the built-in's name inside,
// does not train into the built-in's folder.
func DefaultOut(arch string) string {
	if _, err := models.Lookup(arch); err == nil {
		return filepath.Join("runs", arch)
	}
	name := strings.TrimSuffix(filepath.Base(arch), ".json")
	if name == "" || name == "." || name == string(filepath.Separator) {
		name = "arch"
	}
	return filepath.Join("runs", name)
}

// Limits of the flags whose range the model does not fix: far above any
// sensible value, low enough that a typo cannot exhaust the machine.
const (
	MaxThreads = 1024
	MaxWorkers = 256
)

// arch is the net of the run with the run's recipe.
func (c *Config) arch() (models.Arch, error) {
	var a models.Arch
	if c.Net != nil && (c.Arch == "" || c.Arch == c.Net.Name) {
		a = *c.Net
	} else {
		var err error
		if a, err = models.Resolve(c.Arch); err != nil {
			return a, &runfolder.InputError{Err: err}
		}
	}
	a.Recipe = c.Recipe
	return a, nil
}

// Validate checks every field and returns the arch with the run's recipe;
// errors are InputErrors naming the flag. NaN and infinities are refused
// everywhere. Limits that depend on the data (a batch larger than the
// training set) are checked by checkSizes once the data is loaded, before
// anything large is allocated.
func (c *Config) Validate() (models.Arch, error) {
	arch, err := c.arch()
	if err != nil {
		return arch, err
	}
	if err := arch.Check(); err != nil {
		return arch, &runfolder.InputError{Err: err}
	}
	switch {
	case !(c.Target > 0 && c.Target <= 100):
		return arch, inputErr("-target must be a percentage in (0, 100], got %g", c.Target)
	case c.TestBatchSize < 1:
		return arch, inputErr("-test-batch-size must be at least 1, got %d", c.TestBatchSize)
	case c.Holdout < 0:
		return arch, inputErr("-holdout must not be negative, got %d", c.Holdout)
	case c.Subset < 0:
		return arch, inputErr("-subset must not be negative, got %d", c.Subset)
	case c.Threads < 1 || c.Threads > MaxThreads:
		return arch, inputErr("-threads must be in [1, %d], got %d", MaxThreads, c.Threads)
	case c.Workers < 1 || c.Workers > MaxWorkers:
		return arch, inputErr("-workers must be in [1, %d], got %d", MaxWorkers, c.Workers)
	case c.StopAfter < 0:
		return arch, inputErr("-stop-after must not be negative, got %d", c.StopAfter)
	case c.LogInterval < 1:
		return arch, inputErr("-log-interval must be at least 1, got %d", c.LogInterval)
	case c.Out == "" && !c.DryRun:
		return arch, inputErr("-out must name a folder")
	}
	return arch, nil
}

// checkSizes checks the flags whose limits come from the data: n training
// images before -holdout and -subset. It returns the test batch size to
// use, which is at most the evaluated images.
func (c *Config) checkSizes(n, evalImages int) (testBatch int, err error) {
	switch {
	case c.Holdout >= n:
		return 0, inputErr("-holdout %d leaves no training images: there are %s", c.Holdout, models.Thousands(int64(n)))
	case c.Subset > n-c.Holdout:
		return 0, inputErr("-subset %d is more than the %s training images", c.Subset, models.Thousands(int64(n-c.Holdout)))
	}
	train := n - c.Holdout
	if c.Subset > 0 {
		train = c.Subset
	}
	if c.BatchSize > train {
		return 0, inputErr("-batch-size %d is larger than the %s training images", c.BatchSize, models.Thousands(int64(train)))
	}
	return min(c.TestBatchSize, evalImages), nil
}

// schedule resolves Schedule: "constant", "step" or "onecycle".
func (c *Config) schedule() string { return c.Recipe.ScheduleName() }

// mark is "*" for a value set by a flag, else "".
func (c *Config) mark(flag string) string {
	if c.Overridden[flag] {
		return "*"
	}
	return ""
}
