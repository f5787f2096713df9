package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/internal/lockfile"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
	"github.com/tinydigits/tinydigits/transforms"
)

// Interrupted is returned when a signal (a cancelled context) stopped the
// run at a batch boundary, or stopped an evaluation. The run folder holds
// everything up to Epoch, and checkpoint.pt lets -resume finish the run.
type Interrupted struct {
	Epoch      int  // epochs finished and saved
	During     bool // the stop came inside epoch Epoch+1, not after epoch Epoch
	Folder     string
	Checkpoint bool // checkpoint.pt holds epoch Epoch (false for a dry run or -eval)
	Eval       bool // an -eval was stopped
}

func (e *Interrupted) Error() string {
	switch {
	case e.Eval:
		return "interrupted: the evaluation stopped before its end"
	case !e.Checkpoint:
		return fmt.Sprintf("interrupted during epoch %d; nothing was written", e.Epoch+1)
	}
	when := fmt.Sprintf("stopped after epoch %d", e.Epoch)
	if e.During {
		when = fmt.Sprintf("interrupted during epoch %d", e.Epoch+1)
	}
	saved := fmt.Sprintf("epochs 1–%d are saved in %s", e.Epoch, e.Folder)
	switch e.Epoch {
	case 0:
		saved = fmt.Sprintf("the starting state is saved in %s", e.Folder)
	case 1:
		saved = fmt.Sprintf("epoch 1 is saved in %s", e.Folder)
	}
	return fmt.Sprintf("%s; %s; resume with: go run ./train -resume %s", when, saved, e.Folder)
}

// Run trains cfg's arch (or resumes cfg.Resume) and writes the run folder,
// printing to out. Bad configuration, data, device or checkpoint is an
// *runfolder.InputError; a signal is an *Interrupted.
//
// A run writes checkpoint.pt before its first epoch and after each one, so
// a stop at any moment leaves a run that -resume finishes. Once the last
// epoch's checkpoint is written a signal no longer stops the run: model.pt,
// the pictures and, last, summary.json (which marks the run finished)
// follow in well under a second. A run whose checkpoint holds every epoch
// but which has no summary.json (killed in that second) is finished by
// -resume without training.
//
// The run folder is held by this process from the start (runfolder.Lock):
// a second run, -resume or -overwrite of the same folder is refused while
// this one works in it.
func Run(ctx context.Context, cfg Config, out io.Writer) (*runfolder.Result, error) {
	start := time.Now()
	if !cfg.DryRun {
		lock, err := lockFolder(cfg)
		if err != nil {
			return nil, err
		}
		defer lock.Release()
	}
	if cfg.Continue {
		var res *runfolder.Result
		var done bool
		var err error
		if cfg, res, done, err = continueRun(cfg, out); err != nil || done {
			return res, err
		}
	}
	cfg, ck, err := openResume(cfg)
	if err != nil {
		return nil, err
	}
	if ck != nil {
		defer ck.Close()
	}
	// libtorch keeps grad mode per OS thread: keep every libtorch call of this
	// run on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s, err := newSession(cfg, ck != nil, func() error { return openFolder(cfg, ck) })
	if err != nil {
		return nil, err
	}
	defer s.close()
	r := &run{session: s, out: out, start: start, res: s.result()}
	if err := r.restore(ck); err != nil {
		return nil, err
	}
	if err := r.reopen(ck); err != nil {
		return nil, err
	}
	if err := r.announce(ck); err != nil {
		return nil, err
	}
	if cfg.Events != nil {
		cfg.Events(Event{Epoch: r.first + 1, Epochs: cfg.Epochs, Batches: r.trainLoader.NumBatches()})
	}
	if ck == nil && !cfg.DryRun {
		// The starting state, so that a stop in the first epoch can resume.
		if err := r.save(0); err != nil {
			return r.res, err
		}
	}
	if err := r.epochs(ctx); err != nil || cfg.DryRun {
		return r.res, err
	}
	return r.res, r.finish()
}

// lockFolder holds the folder the run writes: Out, or the folder of
// -resume.
func lockFolder(cfg Config) (*lockfile.Lock, error) {
	dir := cfg.Out
	if cfg.Resume != "" {
		var err error
		if dir, _, err = runfolder.CheckpointPath(cfg.Resume); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		return nil, nil // refused by Validate, with its message
	}
	return runfolder.Lock(dir)
}

// openResume reads the checkpoint of a -resume and returns the run's own
// configuration with the overrides a resume may take.
func openResume(cfg Config) (Config, *runfolder.Checkpoint, error) {
	if cfg.Resume == "" {
		return cfg, nil, nil
	}
	dir, file, err := runfolder.CheckpointPath(cfg.Resume)
	if err != nil {
		return cfg, nil, err
	}
	ck, err := runfolder.ReadCheckpoint(file)
	if err != nil {
		return cfg, nil, err
	}
	if cfg, err = resumeConfig(cfg, ck, dir); err != nil {
		ck.Close()
		return cfg, nil, err
	}
	return cfg, ck, nil
}

// openFolder prepares the run folder: a new one (refusing to mix runs), or
// the resumed one, cleared of what killed writes left.
func openFolder(cfg Config, ck *runfolder.Checkpoint) error {
	switch {
	case ck != nil:
		if err := runfolder.RemoveTemps(cfg.Out); err != nil {
			return &runfolder.InputError{Err: fmt.Errorf("resume: %w", err)}
		}
	case !cfg.DryRun:
		return runfolder.Prepare(cfg.Out, cfg.Overwrite)
	}
	return nil
}

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
	if s.device, err = startLibtorch(cfg, cfg.Threads); err != nil {
		if resumed && !cfg.Overridden["device"] {
			err = inputErr("resume: the run trained on %s, which this machine cannot use (%v); pass -device to continue elsewhere (the numbers will then differ from an uninterrupted run)", cfg.Device, err)
		}
		return nil, err
	}
	gpuFree := 0.0
	if s.device.IsCUDA() {
		if used, total, err := torch.CUDAMemory(s.device.Index); err == nil && used >= 0 {
			gpuFree = float64(total-used) / (1 << 20)
		}
	}
	if err := cfg.checkMemory(s.device.IsCUDA(), gpuFree); err != nil {
		return nil, err
	}
	prefetch := 1
	if s.device.IsCUDA() {
		// A GPU replaying a captured step takes batches as fast as the
		// pipeline makes them: prepare more ahead, on more goroutines.
		prefetch = gpuPrefetch
		if !cfg.Overridden["workers"] {
			cfg.Workers = gpuWorkers
			s.cfg.Workers = gpuWorkers
		}
	}
	if s.ds, err = mnist.Load(cfg.DataDir); err != nil {
		return nil, &runfolder.InputError{Err: err}
	}
	if s.testBatch, err = cfg.checkSizes(s.ds.Train.Len(), s.ds.Test.Len()); err != nil {
		return nil, err
	}
	s.train, s.eval = s.ds.Train, s.ds.Test
	if cfg.Holdout > 0 {
		if s.train, s.eval, err = s.ds.Train.Split(cfg.Holdout); err != nil {
			return nil, &runfolder.InputError{Err: err}
		}
		s.evalName = runfolder.EvalValidation
		s.testBatch = min(cfg.TestBatchSize, s.eval.Len())
	}
	s.train = s.train.Subset(cfg.Subset)
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
	if err := torch.ManualSeed(cfg.Seed); err != nil {
		return nil, err
	}
	if s.net, err = arch.Build(); err != nil {
		return nil, err
	}
	if err := s.net.To(s.device); err != nil {
		return nil, err
	}
	if s.opt, err = optim.NewSGD(nn.Parameters(s.net), optim.SGDConfig{LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay, Nesterov: cfg.Nesterov}); err != nil {
		return nil, &runfolder.InputError{Err: err}
	}
	if cfg.Averaging() != "" {
		if err := s.buildAverage(); err != nil {
			return nil, err
		}
	}
	if s.trainLoader, err = transforms.NewLoader(s.train, transforms.LoaderConfig{
		BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Transform: trainTransform(cfg), Workers: cfg.Workers, Prefetch: prefetch,
	}); err != nil {
		return nil, &runfolder.InputError{Err: err}
	}
	if s.testLoader, err = transforms.NewLoader(s.eval, transforms.LoaderConfig{
		BatchSize: s.testBatch, Transform: transforms.MNISTNormalize, Workers: cfg.Workers,
	}); err != nil {
		return nil, &runfolder.InputError{Err: err}
	}
	s.sched = optim.Constant{}
	var lrAt func(step int) float64 // a schedule stepped every batch
	switch cfg.schedule() {
	case models.ScheduleStep:
		s.sched = optim.StepLR{StepSize: cfg.StepSize, Gamma: cfg.Gamma}
	case models.ScheduleOneCycle:
		oc := optim.DefaultOneCycle
		oc.PctStart = cfg.PctStart
		batches := s.trainLoader.NumBatches()
		total := cfg.Epochs * batches
		if err := oc.CheckSteps(total); err != nil {
			return nil, inputErr("%v (-pct-start %g; %s of %d batches)", err, cfg.PctStart, command.Plural(cfg.Epochs, "epoch"), batches)
		}
		lrAt = func(step int) float64 { return oc.StepLR(cfg.LR, step, total) }
		s.sched = perEpoch{lrAt, batches}
	}
	s.st = &stepper{net: s.net, opt: s.opt, device: s.device, every: syncEvery(s.device, cfg.LogInterval), lrAt: lrAt,
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
		if s.st.graph, err = newGraphStep(s.st, cfg.BatchSize, mnist.Cols, mnist.Rows, !capture); err != nil {
			return nil, err
		}
	}
	ok = true
	return s, nil
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

// run is one training run in progress.
type run struct {
	*session
	out     io.Writer
	start   time.Time
	res     *runfolder.Result
	first   int         // the first epoch to train (0-based)
	earlier float64     // wall time of the runs this one resumes
	last    *evalDetail // the latest epoch's predictions
}

// restore continues from a checkpoint: its weights, optimizer and RNG
// state, and its metrics so far.
func (r *run) restore(ck *runfolder.Checkpoint) error {
	if ck == nil {
		return nil
	}
	if err := ck.Restore(r.net, r.opt, r.device); err != nil {
		return err
	}
	if r.avg != nil {
		if err := ck.RestoreAverage(r.avgNet, r.avg); err != nil {
			return err
		}
	}
	r.first = ck.Meta.Epoch
	r.res.Epochs = append(r.res.Epochs, ck.Meta.Metrics...)
	r.earlier = ck.Meta.WallSeconds
	r.res.ResumedAt = append(append([]int{}, ck.Meta.ResumedAt...), r.first)
	return nil
}

// reopen prepares a resumed run that has epochs left to train: the folder
// stops claiming a finished run (an extension with -epochs of a finished
// one removes its summary.json, which the new last epoch writes again),
// and an extension's checkpoint records the new epoch count at once, so
// that a kill at any later moment leaves a run that a plain -resume
// carries on to the new end.
func (r *run) reopen(ck *runfolder.Checkpoint) error {
	if ck == nil || r.cfg.DryRun || r.first >= r.cfg.Epochs {
		return nil
	}
	if err := runfolder.MarkUnfinished(r.cfg.Out); err != nil {
		return err
	}
	if ck.Arch.Recipe.Epochs != r.cfg.Epochs {
		return r.save(r.first)
	}
	return nil
}

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

// save writes checkpoint.pt after the given number of finished epochs.
func (r *run) save(epochs int) error {
	meta := runfolder.Meta{
		Format: runfolder.Format, Arch: r.arch, Params: r.res.Params, Run: settingsOf(r.cfg, r.res.Threads, r.res.Device),
		Epoch: epochs, Metrics: append([]runfolder.EpochMetrics{}, r.res.Epochs...), WallSeconds: r.earlier + time.Since(r.start).Seconds(),
		Libtorch: r.res.Libtorch, ResumedAt: r.res.ResumedAt,
	}
	var avg *nn.Sequential
	if r.avg != nil {
		n := r.avg.Count()
		avg, meta.Averaged = r.avgNet, &n
	}
	return runfolder.WriteCheckpoint(filepath.Join(r.cfg.Out, runfolder.CheckpointFile), meta, r.net, avg, r.opt, r.device)
}

// pictures draws the run's pictures; a failure is a warning.
func (r *run) pictures() {
	if r.cfg.DryRun || len(r.res.Epochs) == 0 {
		return
	}
	if err := writePictures(r.cfg, r.res.Epochs, r.last, r.eval); err != nil {
		fmt.Fprintf(r.out, "warning: pictures: %v\n", err)
	}
}

// epochs trains and evaluates from r.first to the last epoch, saving the
// metrics and the checkpoint after each. A signal stops it with an
// *Interrupted: inside an epoch's training at the next batch, or after the
// epoch whose evaluation it came in (except the last, which finishes).
func (r *run) epochs(ctx context.Context) error {
	cfg := r.cfg
	for epoch := r.first; epoch < cfg.Epochs; epoch++ {
		lr := r.sched.LR(cfg.LR, epoch)
		if err := r.opt.SetLR(lr); err != nil {
			return err
		}
		prog := newProgress(r.out, cfg, epoch, r.train.Len(), r.trainLoader.NumBatches())
		t0 := time.Now()
		tr, err := r.st.trainEpoch(ctx, r.trainLoader, epoch, lr, cfg.DryRun, prog)
		prog.finish()
		if err != nil {
			r.pictures()
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return &Interrupted{Epoch: epoch, During: true, Folder: cfg.Out, Checkpoint: !cfg.DryRun}
			}
			if !cfg.DryRun {
				err = fmt.Errorf("%w; the last good checkpoint is %s (epoch %d)", err, filepath.Join(cfg.Out, runfolder.CheckpointFile), epoch)
			}
			return err
		}
		if r.avg != nil && cfg.SWAStart > 0 && epoch+1 >= cfg.SWAStart {
			if err := r.avg.Update(); err != nil {
				return err
			}
		}
		if err := torch.Synchronize(r.device); err != nil {
			return err
		}
		secs := time.Since(t0).Seconds()
		if cfg.RecomputeBN && r.evalNet() != r.net {
			if err := r.recomputeBN(epoch, cfg.DryRun); err != nil {
				return err
			}
		}
		// The evaluation runs to its end even after a signal, so the
		// epoch is saved whole.
		ev, detail, err := r.st.evaluate(context.Background(), r.evalNet(), r.testLoader, cfg.DryRun)
		if err != nil {
			return err
		}
		raw := ev
		if r.evalNet() != r.net {
			if raw, _, err = r.st.evaluate(context.Background(), r.net, r.testLoader, cfg.DryRun); err != nil {
				return err
			}
		}
		r.last = detail
		m := runfolder.EpochMetrics{
			Epoch: epoch + 1, LR: lr,
			TrainLoss: tr.loss / float64(tr.seen), TrainAcc: 100 * float64(tr.correct) / float64(tr.seen),
			TestLoss: ev.loss / float64(ev.seen), TestAcc: 100 * float64(ev.correct) / float64(ev.seen),
			TestCorrect: ev.correct, TestTotal: ev.seen,
			Seconds: secs, ImgPerSec: float64(tr.seen) / secs,
		}
		rawNote := ""
		if r.avg != nil {
			m.RawTestLoss, m.RawTestAcc = raw.loss/float64(raw.seen), 100*float64(raw.correct)/float64(raw.seen)
			if r.evalNet() != r.net {
				rawNote = fmt.Sprintf(" (trained weights %.2f%%)", m.RawTestAcc)
			}
		}
		settle()
		m.RSSMB, _ = Memory()
		if r.device.IsCUDA() {
			if used, _, err := torch.CUDAMemory(r.device.Index); err == nil && used >= 0 {
				m.GPUMB = float64(used) / (1 << 20)
			}
		}
		r.res.Epochs = append(r.res.Epochs, m)
		fmt.Fprintf(r.out, "epoch %2d/%d  lr %.4g  train loss %.4f acc %.2f%%  %s loss %.4f acc %.2f%% (%d/%d)%s  %.1f s  %.0f img/s\n",
			m.Epoch, cfg.Epochs, m.LR, m.TrainLoss, m.TrainAcc, r.evalName, m.TestLoss, m.TestAcc, m.TestCorrect, m.TestTotal, rawNote, m.Seconds, m.ImgPerSec)
		if cfg.DryRun {
			fmt.Fprintln(r.out, "dry run: one training and one test batch ran; nothing written")
			return nil
		}
		if err := runfolder.WriteMetrics(cfg.Out, r.res.Epochs, r.evalName); err != nil {
			return err
		}
		if err := r.save(epoch + 1); err != nil {
			return err
		}
		if cfg.Events != nil {
			cfg.Events(Event{Epoch: epoch + 1, Epochs: cfg.Epochs, Batch: r.trainLoader.NumBatches(), Batches: r.trainLoader.NumBatches(), Metrics: &m})
		}
		if ctx.Err() != nil && epoch+1 < cfg.Epochs {
			r.pictures()
			return &Interrupted{Epoch: epoch + 1, Folder: cfg.Out, Checkpoint: true}
		}
	}
	return nil
}

// finish writes the finished run's files: model.pt, the pictures and, last,
// summary.json, then prints the closing lines.
func (r *run) finish() error {
	cfg := r.cfg
	if r.last == nil { // finishing a run whose checkpoint holds every epoch
		var err error
		if _, r.last, err = r.st.evaluate(context.Background(), r.evalNet(), r.testLoader, false); err != nil {
			return err
		}
		if err := runfolder.WriteMetrics(cfg.Out, r.res.Epochs, r.evalName); err != nil {
			return err
		}
	}
	summarize(r.res, cfg, r.earlier+time.Since(r.start).Seconds(), r.last)
	if cfg.SaveModel {
		if err := runfolder.WriteModel(cfg.Out, r.evalNet()); err != nil {
			return err
		}
	}
	r.pictures()
	if err := runfolder.WriteResult(cfg.Out, r.res); err != nil {
		return err
	}
	report(r.res, r.out, cfg)
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

// resumeConfig is the checkpoint's configuration with the overrides a
// resumed run may take (more epochs, another device, threads, output
// settings); changing the recipe is an error, since the run would no longer
// be the one that was started.
func resumeConfig(given Config, ck *runfolder.Checkpoint, dir string) (Config, error) {
	if ck.Legacy {
		return given, inputErr("resume: %s was written by an earlier version and cannot be resumed (-eval still reads its weights)", ck.Path)
	}
	run := ck.Meta.Run
	cfg := given
	net := ck.Arch
	cfg.Arch, cfg.Net, cfg.Recipe, cfg.Out, cfg.Resume = net.Name, &net, net.Recipe, dir, ""
	cfg.Seed, cfg.TestBatchSize, cfg.Subset, cfg.Holdout = run.Seed, run.TestBatchSize, run.Subset, run.Holdout
	cfg.Target, cfg.DataDir = run.Target, run.DataDir
	// The thread count and the device change the arithmetic: keep the
	// run's unless a flag says otherwise.
	cfg.Threads, cfg.Device = run.Threads, run.Device
	recipeFlags := map[string]bool{}
	for _, f := range models.RecipeFields() {
		recipeFlags[f.Flag] = true
	}
	for name := range given.Overridden {
		switch {
		case name == "epochs":
			if cfg.schedule() == models.ScheduleOneCycle && given.Epochs != net.Recipe.Epochs {
				return cfg, inputErr("resume: %s uses a OneCycle schedule, which spans its %d epochs; -epochs cannot change", dir, net.Recipe.Epochs)
			}
			cfg.Epochs = given.Epochs
		case recipeFlags[name], name == "seed", name == "subset", name == "holdout", name == "test-batch-size":
			return cfg, inputErr("resume: -%s cannot change when resuming: the run keeps the recipe it started with", name)
		case name == "data":
			cfg.DataDir = given.DataDir
		case name == "target":
			cfg.Target = given.Target
		case name == "threads":
			cfg.Threads = given.Threads
		case name == "device":
			cfg.Device = given.Device
		case name == "arch":
			if given.Arch != net.Name {
				return cfg, inputErr("resume: %s holds a %s run, not %s", ck.Path, net.Name, given.Arch)
			}
		case name == "out":
			if filepath.Clean(given.Out) != filepath.Clean(dir) {
				return cfg, inputErr("resume: a resumed run stays in its folder %s; -out %s does not apply", dir, given.Out)
			}
		case name == "dry-run", name == "overwrite":
			return cfg, inputErr("resume: -%s does not go with -resume", name)
		}
	}
	// A summary of fewer epochs than the checkpoint is an earlier finish,
	// before an extension that was stopped: not finished.
	done, finished := runfolder.FinishedEpochs(dir)
	finished = finished && done == ck.Meta.Epoch
	switch {
	case ck.Meta.Epoch > cfg.Epochs:
		return cfg, inputErr("resume: %s has finished %d epochs; -epochs %d is fewer", dir, ck.Meta.Epoch, cfg.Epochs)
	case ck.Meta.Epoch == cfg.Epochs && finished:
		return cfg, inputErr("resume: %s already finished its %d epochs; pass -epochs N (more than %d) to train further",
			dir, ck.Meta.Epoch, ck.Meta.Epoch)
	}
	return cfg, nil
}

// summarize computes the run's best and last figures.
func summarize(r *runfolder.Result, cfg Config, wall float64, last *evalDetail) {
	for _, m := range r.Epochs {
		if m.TestAcc > r.BestTestAcc {
			r.BestTestAcc, r.BestEpoch = m.TestAcc, m.Epoch
		}
		r.BestTrainAcc = math.Max(r.BestTrainAcc, m.TrainAcc)
	}
	tail := r.Epochs[max(0, len(r.Epochs)-runfolder.LastEpochs):]
	r.Consistent = len(tail) > 0
	r.LastTestAccs = nil
	for _, m := range tail {
		r.LastTestAccs = append(r.LastTestAccs, m.TestAcc)
		r.Consistent = r.Consistent && m.TestAcc >= cfg.Target
	}
	r.LastTrainAcc = r.Epochs[len(r.Epochs)-1].TrainAcc
	if last != nil {
		r.Confusion, r.ClassAcc = last.confusionRows(), last.classAccuracy()
	}
	r.WallSeconds = wall
	r.FinishedAtUTC = time.Now().UTC().Format(time.RFC3339)
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

func settingsOf(c Config, threads int, device string) runfolder.Settings {
	return runfolder.Settings{Seed: c.Seed, TestBatchSize: c.TestBatchSize, Subset: c.Subset, Holdout: c.Holdout,
		Target: c.Target, DataDir: c.DataDir, Threads: threads, Device: device}
}
