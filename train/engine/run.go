package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tinydigits/tinydigits/internal/lockfile"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
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
	return fmt.Sprintf("%s; %s; %s", when, saved, resumeHint(e.Folder))
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
	if r.stopsAt() > 0 {
		r.pictures()
		fmt.Fprintf(r.out, "stopped after epoch %d of %d as asked (-stop-after %d); %s\n", len(r.res.Epochs), cfg.Epochs, r.stopsAt(), resumeHint(cfg.Out))
		return r.res, nil
	}
	return r.res, r.finish()
}

// stopsAt is the epoch the run stops after on purpose (-stop-after), or 0
// when it runs to the end.
func (r *run) stopsAt() int {
	if r.cfg.StopAfter > 0 && r.cfg.StopAfter < r.cfg.Epochs {
		return r.cfg.StopAfter
	}
	return 0
}

// resumeHint is the command that carries a stopped run on.
func resumeHint(dir string) string { return "resume with: go run ./train -resume " + dir }

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
	last := cfg.Epochs
	if r.stopsAt() > 0 {
		last = r.stopsAt()
	}
	for epoch := r.first; epoch < last; epoch++ {
		m, err := r.epoch(ctx, epoch)
		if err != nil {
			return err
		}
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
			cfg.Events(Event{Epoch: epoch + 1, Epochs: cfg.Epochs, Batch: r.trainLoader.NumBatches(), Batches: r.trainLoader.NumBatches(), Metrics: m})
		}
		if ctx.Err() != nil && epoch+1 < last {
			r.pictures()
			return &Interrupted{Epoch: epoch + 1, Folder: cfg.Out, Checkpoint: true}
		}
	}
	return nil
}

// epoch trains epoch (0-based) and evaluates it, adds its metrics to the
// run's and prints its line.
func (r *run) epoch(ctx context.Context, epoch int) (*runfolder.EpochMetrics, error) {
	cfg := r.cfg
	lr := r.sched.LR(cfg.LR, epoch)
	if err := r.opt.SetLR(lr); err != nil {
		return nil, err
	}
	prog := newProgress(r.out, cfg, epoch, r.train.Len(), r.trainLoader.NumBatches())
	t0 := time.Now()
	tr, err := r.st.trainEpoch(ctx, r.trainLoader, epoch, lr, cfg.DryRun, prog)
	prog.finish()
	if err != nil {
		r.pictures()
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, &Interrupted{Epoch: epoch, During: true, Folder: cfg.Out, Checkpoint: !cfg.DryRun}
		}
		if !cfg.DryRun {
			err = fmt.Errorf("%w; the last good checkpoint is %s (epoch %d)", err, filepath.Join(cfg.Out, runfolder.CheckpointFile), epoch)
		}
		return nil, err
	}
	if r.avg != nil && cfg.SWAStart > 0 && epoch+1 >= cfg.SWAStart {
		if err := r.avg.Update(); err != nil {
			return nil, err
		}
	}
	if err := torch.Synchronize(r.device); err != nil {
		return nil, err
	}
	secs := time.Since(t0).Seconds()
	m := runfolder.EpochMetrics{Epoch: epoch + 1, LR: lr, TrainLoss: tr.loss / float64(tr.seen), TrainAcc: 100 * float64(tr.correct) / float64(tr.seen),
		Seconds: secs, ImgPerSec: float64(tr.seen) / secs}
	rawNote, err := r.evaluateEpoch(epoch, &m)
	if err != nil {
		return nil, err
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
	return &r.res.Epochs[len(r.res.Epochs)-1], nil
}

// evaluateEpoch evaluates the net the run reports (the averaged one when
// it averages) into m and, when it averages, the trained weights too (m's
// raw columns; rawNote is their words for the epoch line). The evaluation
// runs to its end even after a signal, so the epoch is saved whole.
func (r *run) evaluateEpoch(epoch int, m *runfolder.EpochMetrics) (rawNote string, err error) {
	cfg := r.cfg
	if cfg.RecomputeBN && r.evalNet() != r.net {
		if err := r.recomputeBN(epoch, cfg.DryRun); err != nil {
			return "", err
		}
	}
	ev, detail, err := r.st.evaluate(context.Background(), r.evalNet(), r.testLoader, cfg.DryRun)
	if err != nil {
		return "", err
	}
	raw := ev
	if r.evalNet() != r.net {
		if raw, _, err = r.st.evaluate(context.Background(), r.net, r.testLoader, cfg.DryRun); err != nil {
			return "", err
		}
	}
	r.last = detail
	m.TestLoss, m.TestAcc = ev.loss/float64(ev.seen), 100*float64(ev.correct)/float64(ev.seen)
	m.TestCorrect, m.TestTotal = ev.correct, ev.seen
	if r.avg != nil {
		m.RawTestLoss, m.RawTestAcc = raw.loss/float64(raw.seen), 100*float64(raw.correct)/float64(raw.seen)
		if r.evalNet() != r.net {
			rawNote = fmt.Sprintf(" (trained weights %.2f%%)", m.RawTestAcc)
		}
	}
	return rawNote, nil
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

func settingsOf(c Config, threads int, device string) runfolder.Settings {
	return runfolder.Settings{Seed: c.Seed, TestBatchSize: c.TestBatchSize, Subset: c.Subset, Holdout: c.Holdout,
		Target: c.Target, DataDir: c.DataDir, Threads: threads, Device: device}
}
