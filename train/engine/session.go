package engine

import (
	"fmt"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
	"github.com/tinydigits/tinydigits/transforms"
)

// session is what a training run and a benchmark share, built the same way
// from one Config: libtorch started, the data loaded and split, the net
// built from the seed, the optimizer, the loaders, the schedule and the
// training step.
type session struct {
	cfg         Config
	arch        models.Arch
	device      torch.Device
	ds          *mnist.Dataset
	train, eval *mnist.Set
	evalName    string
	testBatch   int
	net         *nn.Sequential
	opt         *optim.SGD
	// avgNet holds the averaged weights when the recipe averages them
	// (-ema, -swa-start): evaluated, reported and saved as the model.
	avgNet                  *nn.Sequential
	avg                     *optim.Average
	trainLoader, testLoader *transforms.Loader
	sched                   optim.Schedule
	st                      *stepper
	// graphs says why a GPU run with -cuda-graphs trains eagerly ("" when
	// it captures its step, or off the GPU).
	graphs string
	// prefetch is how many batches the training loader prepares ahead.
	prefetch int
	// lrAt, for a schedule stepped every batch, gives each step's rate.
	lrAt func(step int) float64
}

// The data pipeline on a GPU, unless -workers says otherwise: one worker
// prepares step3's batches at about 345,000 images/s on the 2-core
// development machine and two at 420,000–445,000 (transforms'
// BenchmarkPipeline; BENCHMARKS.md),
// several times what a GPU replaying the captured step takes, and four
// batches ahead absorb the pauses.
const (
	gpuWorkers  = 2
	gpuPrefetch = 4
)

// newSession checks cfg and builds a session on the calling goroutine,
// which the caller has locked to its OS thread. beforeBuild runs once every
// check has passed and before the net is built. A resumed run's device
// that this machine lacks gets a line saying how to go on.
func newSession(cfg Config, resumed bool, beforeBuild func() error) (*session, error) {
	arch, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, arch: arch, evalName: runfolder.EvalTest}
	if err := s.startDevice(resumed); err != nil {
		return nil, err
	}
	if err := s.loadData(); err != nil {
		return nil, err
	}
	if beforeBuild != nil {
		if err := beforeBuild(); err != nil {
			return nil, err
		}
	}
	settle()
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	for _, build := range []func() error{s.buildNet, s.buildLoaders, s.buildSchedule, s.buildStepper} {
		if err := build(); err != nil {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// startDevice starts libtorch on the run's device and thread count and
// checks that the run's memory fits there. A GPU run prepares its batches
// further ahead, on more goroutines (unless -workers says otherwise): a
// GPU replaying a captured step takes them as fast as they come.
func (s *session) startDevice(resumed bool) error {
	cfg := s.cfg
	var err error
	if s.device, err = startLibtorch(cfg, cfg.Threads); err != nil {
		if resumed && !cfg.Overridden["device"] {
			err = inputErr("resume: the run trained on %s, which this machine cannot use (%v); pass -device to continue elsewhere (the numbers will then differ from an uninterrupted run)", cfg.Device, err)
		}
		return err
	}
	gpuFree := 0.0
	if s.device.IsCUDA() {
		if used, total, err := torch.CUDAMemory(s.device.Index); err == nil && used >= 0 {
			gpuFree = float64(total-used) / (1 << 20)
		}
	}
	if err := cfg.checkMemory(s.device.IsCUDA(), gpuFree); err != nil {
		return err
	}
	s.prefetch = 1
	if s.device.IsCUDA() {
		s.prefetch = gpuPrefetch
		if !cfg.Overridden["workers"] {
			s.cfg.Workers = gpuWorkers
		}
	}
	return nil
}

// loadData reads MNIST and splits it as the run asks: -holdout's
// validation images, -subset's first training images.
func (s *session) loadData() error {
	cfg := s.cfg
	var err error
	if s.ds, err = mnist.Load(cfg.DataDir); err != nil {
		return &runfolder.InputError{Err: err}
	}
	if s.testBatch, err = cfg.checkSizes(s.ds.Train.Len(), s.ds.Test.Len()); err != nil {
		return err
	}
	s.train, s.eval = s.ds.Train, s.ds.Test
	if cfg.Holdout > 0 {
		if s.train, s.eval, err = s.ds.Train.Split(cfg.Holdout); err != nil {
			return &runfolder.InputError{Err: err}
		}
		s.evalName = runfolder.EvalValidation
		s.testBatch = min(cfg.TestBatchSize, s.eval.Len())
	}
	s.train = s.train.Subset(cfg.Subset)
	return nil
}

// buildNet builds the net from the seed on the device, its optimizer and,
// when the recipe averages the weights, the averaged copy.
func (s *session) buildNet() error {
	cfg := s.cfg
	if err := torch.ManualSeed(cfg.Seed); err != nil {
		return err
	}
	var err error
	if s.net, err = s.arch.Build(); err != nil {
		return err
	}
	if err := s.net.To(s.device); err != nil {
		return err
	}
	if s.opt, err = optim.NewSGD(nn.Parameters(s.net), optim.SGDConfig{LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay, Nesterov: cfg.Nesterov}); err != nil {
		return &runfolder.InputError{Err: err}
	}
	if cfg.Averaging() != "" {
		return s.buildAverage()
	}
	return nil
}

// buildLoaders makes the training loader (shuffled, augmented) and the
// evaluation loader.
func (s *session) buildLoaders() error {
	cfg := s.cfg
	var err error
	if s.trainLoader, err = transforms.NewLoader(s.train, transforms.LoaderConfig{
		BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Transform: trainTransform(cfg), Workers: cfg.Workers, Prefetch: s.prefetch,
	}); err != nil {
		return &runfolder.InputError{Err: err}
	}
	if s.testLoader, err = transforms.NewLoader(s.eval, transforms.LoaderConfig{
		BatchSize: s.testBatch, Transform: transforms.MNISTNormalize, Workers: cfg.Workers,
	}); err != nil {
		return &runfolder.InputError{Err: err}
	}
	return nil
}

// buildSchedule sets the learning rate's schedule: per epoch (StepLR, a
// constant rate) or, for OneCycle, per batch (lrAt).
func (s *session) buildSchedule() error {
	cfg := s.cfg
	s.sched = optim.Constant{}
	switch cfg.schedule() {
	case models.ScheduleStep:
		s.sched = optim.StepLR{StepSize: cfg.StepSize, Gamma: cfg.Gamma}
	case models.ScheduleOneCycle:
		oc := optim.DefaultOneCycle
		oc.PctStart = cfg.PctStart
		batches := s.trainLoader.NumBatches()
		total := cfg.Epochs * batches
		if err := oc.CheckSteps(total); err != nil {
			return inputErr("%v (-pct-start %g; %s of %d batches)", err, cfg.PctStart, command.Plural(cfg.Epochs, "epoch"), batches)
		}
		s.lrAt = func(step int) float64 { return oc.StepLR(cfg.LR, step, total) }
		s.sched = perEpoch{s.lrAt, batches}
	}
	return nil
}

// buildStepper makes the stepper that trains and evaluates, with the step
// captured as a CUDA graph where the GPU and the build allow it (or its
// body emulated, in tests).
func (s *session) buildStepper() error {
	cfg := s.cfg
	s.st = &stepper{net: s.net, opt: s.opt, device: s.device, every: syncEvery(s.device, cfg.LogInterval), lrAt: s.lrAt,
		smoothing: cfg.LabelSmoothing, hook: cfg.afterBatch, evalHook: cfg.afterEvalBatch}
	if cfg.EMA > 0 {
		s.st.ema = s.avg
	}
	s.st.cacheEval = s.device.IsCUDA() || cfg.emulateGraphs
	capture := s.device.IsCUDA() && cfg.CUDAGraphs && !cfg.DryRun
	if capture {
		s.graphs = torch.CUDAGraphsUnsupported()
		capture = s.graphs == ""
	}
	if capture || cfg.emulateGraphs {
		var err error
		if s.st.graph, err = newGraphStep(s.st, cfg.BatchSize, mnist.Cols, mnist.Rows, !capture); err != nil {
			return err
		}
	}
	return nil
}

// buildAverage builds the network that holds the averaged weights. Its
// random initialisation is overwritten by the first update, and building it
// leaves the generator as it was, so the trained weights follow exactly the
// run without averaging (the metrics' raw columns are that run).
func (s *session) buildAverage() error {
	state, err := torch.CPURNGState()
	if err != nil {
		return err
	}
	defer state.Close()
	if s.avgNet, err = s.arch.Build(); err != nil {
		return err
	}
	if err := s.avgNet.To(s.device); err != nil {
		return err
	}
	if err := torch.SetCPURNGState(state); err != nil {
		return err
	}
	s.avg, err = optim.NewAverage(s.avgNet, s.net, s.cfg.EMA)
	return err
}

// recomputeBN sets the averaged weights' BatchNorm statistics to their
// average over the epoch's training batches (the same augmented batches),
// in training mode as PyTorch's update_bn. The generators are restored
// after it, so the dropout masks of the training that follows are those of
// the run without it.
func (s *session) recomputeBN(epoch int, dry bool) error {
	cpu, err := torch.CPURNGState()
	if err != nil {
		return err
	}
	defer cpu.Close()
	var gpu *torch.Tensor
	if s.device.IsCUDA() {
		if gpu, err = torch.RNGState(s.device); err != nil {
			return err
		}
		defer gpu.Close()
	}
	err = nn.RecomputeBatchNorm(s.avgNet, func(forward func(*torch.Tensor) error) error {
		it := s.trainLoader.Epoch(epoch)
		defer it.Close()
		for {
			b, ok := it.Next()
			if !ok {
				return nil
			}
			x, err := torch.FromSliceOn(b.X[:b.N*b.W*b.H], s.device, b.Shape()...)
			if err != nil {
				return err
			}
			err = forward(x)
			x.Close()
			if err != nil || dry {
				return err
			}
		}
	})
	if err != nil {
		return fmt.Errorf("recomputing BatchNorm statistics: %w", err)
	}
	if err := torch.SetCPURNGState(cpu); err != nil {
		return err
	}
	if gpu != nil {
		return torch.SetRNGState(s.device, gpu)
	}
	return nil
}

// evalNet is the network a run evaluates, reports and saves: the averaged
// one once it holds an average, else the trained one.
func (s *session) evalNet() *nn.Sequential {
	if s.avg != nil && s.avg.Count() > 0 {
		return s.avgNet
	}
	return s.net
}

func (s *session) close() {
	if s.st != nil {
		s.st.close()
	}
	if s.avgNet != nil {
		s.avgNet.Close()
	}
	if s.opt != nil {
		s.opt.Close()
	}
	if s.net != nil {
		s.net.Close()
	}
}

// result is the runfolder.Result a run of the session starts from.
func (s *session) result() *runfolder.Result {
	return &runfolder.Result{
		Arch: s.arch.Name, Params: nn.NumParams(s.net), Seed: s.cfg.Seed, Device: s.device.String(),
		Threads: torch.NumThreads(), Libtorch: torch.Version(), Recipe: s.cfg.Recipe, RecipeLine: s.cfg.recipeLine(),
		Target: s.cfg.Target, DataDir: s.ds.Dir, TrainImages: s.train.Len(), TestImages: s.eval.Len(), EvaluatedOn: s.evalName,
	}
}

// startLibtorch prepares libtorch for a run on the calling (locked) OS
// thread: malloc settings, the device, the thread count. A bad device or
// thread count is a runfolder.InputError.
func startLibtorch(cfg Config, threads int) (torch.Device, error) {
	if !cfg.SystemMalloc {
		torch.KeepFreedMemory()
	}
	device, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return device, &runfolder.InputError{Err: err}
	}
	if err := torch.SetNumThreads(threads); err != nil {
		return device, &runfolder.InputError{Err: err}
	}
	return device, nil
}

// trainTransform is the training pipeline's per-image transform: rotation
// and translation when the recipe has them (one affine resampling, as
// torchvision's RandomAffine), then MNIST normalisation.
func trainTransform(cfg Config) transforms.Transform {
	if cfg.Translate > 0 {
		return transforms.Compose{transforms.RandomAffine{Degrees: cfg.Rotate, Translate: cfg.Translate}, transforms.MNISTNormalize}
	}
	if cfg.Rotate > 0 {
		return transforms.Compose{transforms.RandomRotation{Degrees: cfg.Rotate}, transforms.MNISTNormalize}
	}
	return transforms.MNISTNormalize
}
