package pool

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/internal/lockfile"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/grid"
	"github.com/tinydigits/tinydigits/train/engine"
)

// EventsEnv names the environment variable that tells a run started by
// the pool which file descriptor to write its events to (JSON lines of
// engine.Event).
const EventsEnv = "TINYDIGITS_EVENTS_FD"

// Options are how the pool runs its runs.
type Options struct {
	Jobs    int    // runs at a time
	Threads int    // libtorch threads of each new run
	Device  string // device of each new run
	// Command starts the train command; the run's flags follow it (the
	// sweep passes its own program with "train").
	Command []string
	// Quit, when closed after the context is cancelled, asks the runs
	// to quit at once instead of at the next batch boundary.
	Quit <-chan struct{}
	// Display shows the progress: a terminal's live lines or plain lines.
	Display *Display
	// Pin gives each run CPUs of its own (as many as its threads), ones
	// that no other pinned run holds, this sweep's or another's; a run
	// that finds too few free goes unpinned.
	Pin bool
}

// Status is where a run stands in the pool.
type Status string

// The statuses of a pool's runs.
const (
	Waiting    Status = "waiting"
	Running    Status = "running"
	Done       Status = "done"
	Skipped    Status = "finished before" // finished by an earlier sweep
	Failed     Status = "failed"
	Stopped    Status = "stopped"     // interrupted; the next sweep resumes it
	Paused     Status = "paused"      // stopped at its StopAfter epoch, as asked
	NotStarted Status = "not started" // the sweep stopped before it
)

// Task is one run in the pool and what is known of it.
type Task struct {
	Run  grid.Run
	Plan Plan
	// StopAfter, when positive, stops the run after that many epochs
	// (train's -stop-after): a rung of a search.
	StopAfter int

	Status         Status
	Epoch, Epochs  int // the current epoch (1-based) and the run's epochs
	Batch, Batches int // finished batches of the current epoch
	LastAcc        float64
	HaveAcc        bool
	Evaluated      int // the last epoch whose evaluation finished
	FirstEpoch     int // the epoch the run started or resumed at
	Started        time.Time
	Wall           time.Duration
	PeakMB         float64 // the process's peak resident memory
	Err            string  // one line, for a failed run
}

// work is the task's training batches: all of them, and those done since
// this sweep started it.
func (t *Task) work() (total, done int) {
	if t.Batches == 0 {
		return 0, 0
	}
	total = (t.Epochs - t.FirstEpoch + 1) * t.Batches
	done = (t.Epoch-t.FirstEpoch)*t.Batches + t.Batch
	return total, min(done, total)
}

// Outcome is what a pool did.
type Outcome struct {
	Tasks []*Task
}

// Count is the number of tasks with status s.
func (o *Outcome) Count(s Status) int {
	n := 0
	for _, t := range o.Tasks {
		if t.Status == s {
			n++
		}
	}
	return n
}

// Run runs every run of the sweep in folder dir that is not finished, at
// most opt.Jobs at a time. A failed run is reported and does not stop the
// others. When ctx is cancelled no run starts and every running one is
// told to stop after its batch (SIGINT, as Ctrl-C tells train); Run
// returns once all have exited. The error is for a problem with the pool
// itself, not with a run.
func Run(ctx context.Context, dir string, runs []grid.Run, opt Options) (*Outcome, error) {
	out := &Outcome{}
	for _, r := range runs {
		plan, err := Prepare(dir, r, opt.Threads, opt.Device)
		if err != nil {
			return nil, err
		}
		t := &Task{Run: r, Plan: plan, Status: Waiting}
		if plan.State == Finished {
			t.Status = Skipped
		}
		out.Tasks = append(out.Tasks, t)
	}
	var mu sync.Mutex
	d := opt.Display
	if d == nil {
		d = NewDisplay(io.Discard, nil, false, nil)
	}
	if err := d.start(out.Tasks, &mu, opt); err != nil {
		return nil, err
	}
	defer d.stop()

	queue := make(chan *Task)
	var wg sync.WaitGroup
	for range max(1, opt.Jobs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range queue {
				runTask(ctx, dir, t, opt, &mu, d)
			}
		}()
	}
	for _, t := range out.Tasks {
		if t.Status != Waiting {
			continue
		}
		select {
		case queue <- t:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(queue)
	wg.Wait()
	mu.Lock()
	for _, t := range out.Tasks {
		if t.Status == Waiting {
			t.Status = NotStarted
		}
	}
	mu.Unlock()
	return out, nil
}

// runTask runs one train process and follows it to its end. The run's
// state is decided as it starts, not when the sweep started: a folder
// deleted meanwhile trains afresh, one finished meanwhile is skipped.
func runTask(ctx context.Context, dir string, t *Task, opt Options, mu *sync.Mutex, d *Display) {
	if ctx.Err() != nil {
		return // stays Waiting: not started
	}
	r := &taskRun{ctx: ctx, dir: dir, runDir: filepath.Join(dir, t.Run.Dir), t: t, opt: opt, mu: mu, d: d}
	if !r.prepare() {
		return
	}
	logFile, err := os.OpenFile(filepath.Join(r.runDir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.fail("%v", err)
		return
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "== %s: train %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(t.Plan.Args, " "))
	r.execute(logFile)
}

// taskRun is one task being started and followed by the pool.
type taskRun struct {
	ctx         context.Context
	dir, runDir string // the sweep's folder and the run's
	t           *Task
	opt         Options
	mu          *sync.Mutex
	d           *Display
}

// fail marks the task failed, with its reason.
func (r *taskRun) fail(format string, args ...any) {
	r.mu.Lock()
	r.t.Status, r.t.Err = Failed, fmt.Sprintf(format, args...)
	r.mu.Unlock()
	r.d.event(r.t, "failed: "+r.t.Err)
}

// prepare waits for the run's folder to be free, decides how to start the
// run and records a new one; false when there is nothing to start.
func (r *taskRun) prepare() bool {
	t := r.t
	WaitForFolder(r.ctx, r.runDir, func(holder string) {
		r.d.event(t, "waiting for "+holder+" to leave the run's folder")
	})
	plan, err := Prepare(r.dir, t.Run, r.opt.Threads, r.opt.Device)
	if err != nil {
		r.fail("%v", err)
		return false
	}
	r.mu.Lock()
	t.Plan = plan
	if plan.State == Finished {
		t.Status = Skipped
	}
	r.mu.Unlock()
	switch plan.State {
	case Finished:
		r.d.event(t, "finished meanwhile, by another process")
		return false
	case Fresh:
		if err := Record(r.dir, t.Run, r.opt.Threads, r.opt.Device); err != nil {
			r.fail("%v", err)
			return false
		}
	}
	return true
}

// execute starts train in its own process group, its output into the log,
// its events through a pipe, pinned to free CPUs where the pool pins, and
// follows it to its end.
func (r *taskRun) execute(logFile *os.File) {
	t := r.t
	events, writeEnd, err := os.Pipe()
	if err != nil {
		r.fail("%v", err)
		return
	}
	defer events.Close()
	args := t.Plan.Args
	if t.StopAfter > 0 {
		args = append(slices.Clip(args), "-stop-after", strconv.Itoa(t.StopAfter))
	}
	cmd := exec.Command(r.opt.Command[0], append(slices.Clone(r.opt.Command[1:]), args...)...)
	cmd.Env = append(os.Environ(), EventsEnv+"=3")
	cmd.ExtraFiles = []*os.File{writeEnd}
	// The log file itself, not a pipe through this process: a run whose
	// sweep was killed must still be able to write its last lines.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C on the terminal reaches the sweep
	// alone, which passes it on once to each run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var cpus []int
	if r.opt.Pin {
		var release func()
		cpus, release = claimCPUs(t.Plan.Threads)
		defer release()
	}
	r.mu.Lock()
	t.Status, t.Started = Running, time.Now()
	r.mu.Unlock()
	err = startOn(cmd, cpus)
	writeEnd.Close()
	if err != nil {
		r.fail("start: %v", err)
		return
	}
	r.d.event(t, "started ("+t.Plan.State.String()+")"+pinnedTo(cpus))
	read := make(chan struct{})
	go func() {
		defer close(read)
		r.follow(events)
	}()
	exited := make(chan struct{})
	go r.passSignals(cmd, exited)
	err = cmd.Wait()
	close(exited)
	<-read
	r.finish(cmd, err, logFile.Name())
}

// pinnedTo says where a run was pinned, for its "started" line.
func pinnedTo(cpus []int) string {
	switch len(cpus) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(", pinned to CPU %d", cpus[0])
	}
	return fmt.Sprintf(", pinned to CPUs %s", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(cpus)), ","), "[]"))
}

// follow reads the run's events (JSON lines) into its task.
func (r *taskRun) follow(events io.Reader) {
	t := r.t
	sc := bufio.NewScanner(events)
	for sc.Scan() {
		var e engine.Event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		r.mu.Lock()
		if t.Batches == 0 {
			t.FirstEpoch = e.Epoch
		}
		t.Epoch, t.Epochs, t.Batch, t.Batches = e.Epoch, e.Epochs, e.Batch, e.Batches
		if e.Metrics != nil {
			t.LastAcc, t.HaveAcc, t.Evaluated = e.Metrics.TestAcc, true, e.Epoch
		}
		r.mu.Unlock()
		if e.Metrics != nil {
			r.d.event(t, fmt.Sprintf("epoch %d/%d: %.2f%%", e.Epoch, e.Epochs, e.Metrics.TestAcc))
		}
	}
}

// passSignals tells the run to stop at its next batch when the sweep is
// stopped, and to quit at once when the sweep quits, until it exits.
func (r *taskRun) passSignals(cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	case <-r.ctx.Done():
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
	case <-r.opt.Quit:
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // a second one quits at once
	}
}

// finish sets the task's outcome from how train exited.
func (r *taskRun) finish(cmd *exec.Cmd, err error, log string) {
	t := r.t
	r.mu.Lock()
	t.Wall = time.Since(t.Started)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.PeakMB = float64(ru.Maxrss) / 1024
	}
	code := cmd.ProcessState.ExitCode()
	switch {
	case err == nil && runfolder.Finished(r.runDir):
		t.Status = Done
	case err == nil && t.StopAfter > 0:
		t.Status = Paused
	case err == nil:
		t.Status, t.Err = Failed, "train exited without finishing the run"
	case code == command.ExitStopped || r.ctx.Err() != nil:
		t.Status = Stopped
	default:
		t.Status, t.Err = Failed, fmt.Sprintf("exit %d: %s", code, lastError(log))
		if code < 0 {
			t.Err = fmt.Sprintf("%v: %s", cmd.ProcessState, lastError(log))
		}
	}
	msg := string(t.Status)
	switch t.Status {
	case Done:
		msg = fmt.Sprintf("done in %s, peak memory %.0f MB", t.Wall.Round(time.Second), t.PeakMB)
	case Failed:
		msg = "failed: " + t.Err + " (log: " + log + ")"
	case Stopped:
		msg = fmt.Sprintf("stopped at epoch %d/%d batch %d; the next sweep resumes it", t.Epoch, t.Epochs, t.Batch)
	case Paused:
		msg = fmt.Sprintf("paused after epoch %d/%d, as asked", t.StopAfter, t.Epochs)
	}
	r.mu.Unlock()
	r.d.event(t, msg)
}

// Workers run tasks handed to them one at a time as slots free, for a
// caller that chooses its runs as it goes (a search): at most Jobs at once,
// each as the pool runs its runs. Finished tasks come out of Done.
type Workers struct {
	ctx  context.Context
	dir  string
	opt  Options
	mu   sync.Mutex
	busy int
	done chan *Task
	wg   sync.WaitGroup
	d    *Display
	all  []*Task
}

// StartWorkers starts the live view of an empty pool of opt.Jobs slots
// for runs in the sweep folder dir. It fails when opt.Display already
// shows another pool's live view.
func StartWorkers(ctx context.Context, dir string, opt Options) (*Workers, error) {
	w := &Workers{ctx: ctx, dir: dir, opt: opt, done: make(chan *Task, max(1, opt.Jobs)), d: opt.Display}
	if w.d == nil {
		w.d = NewDisplay(io.Discard, nil, false, nil)
	}
	if err := w.d.live(nil, &w.mu, opt); err != nil {
		return nil, err
	}
	return w, nil
}

// Free is the number of slots free.
func (w *Workers) Free() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opt.Jobs - w.busy
}

// Start runs t in a free slot; it comes out of Done when it ends (or is
// left Waiting, when the context was cancelled first).
func (w *Workers) Start(t *Task) {
	w.mu.Lock()
	w.busy++
	t.Status = Waiting
	w.all = append(w.all, t)
	w.d.tasks = w.all
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		runTask(w.ctx, w.dir, t, w.opt, &w.mu, w.d)
		w.mu.Lock()
		w.busy--
		w.mu.Unlock()
		w.done <- t
	}()
}

// Done delivers each task as it ends.
func (w *Workers) Done() <-chan *Task { return w.done }

// Busy is the number of tasks running.
func (w *Workers) Busy() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.busy
}

// Lock guards the tasks' fields while the caller reads them.
func (w *Workers) Lock() func() {
	w.mu.Lock()
	return w.mu.Unlock
}

// Stop ends the live view once every task has ended.
func (w *Workers) Stop() {
	w.wg.Wait()
	w.d.stop()
}

// WaitForFolder waits while another process holds the run folder runDir
// (its run.lock): a run of a sweep that was killed, which notices at its
// next batch and stops with a checkpoint, or a Slurm task that is being
// replaced. onWait is told once whom it waits for. After a minute it
// returns anyway, and the run's train refuses the folder, naming the
// holder.
func WaitForFolder(ctx context.Context, runDir string, onWait func(holder string)) {
	deadline := time.Now().Add(time.Minute)
	told := false
	for {
		held, holder := lockfile.Held(runDir, runfolder.LockFile)
		if !held || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		if !told && onWait != nil {
			if holder == "" {
				holder = "another process"
			}
			onWait(holder)
			told = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lastError is a failed run's error from its log: the last line train
// wrote as an error ("train: ..."), else the last line.
func lastError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "no log"
	}
	defer f.Close()
	const tail = 8192
	if info, err := f.Stat(); err == nil && info.Size() > tail {
		f.Seek(info.Size()-tail, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	last, lastErr := "", ""
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		last = l
		if strings.HasPrefix(l, "train: ") {
			lastErr = l
		}
	}
	switch {
	case lastErr != "":
		return lastErr
	case last != "":
		return last
	}
	return "no output"
}

// WriteEvents is the run side of the pool's events: when the pool started
// this process, it returns a Config.Events that writes the run's events
// to the pool (each batch at most a few times a second, each start and
// finished epoch always); otherwise nil.
func WriteEvents() func(engine.Event) {
	fd := os.Getenv(EventsEnv)
	if fd != "3" {
		return nil
	}
	f := os.NewFile(3, "events")
	if f == nil {
		return nil
	}
	var last time.Time
	orphaned := false
	return func(e engine.Event) {
		if orphaned || e.Metrics == nil && e.Batch != 0 && e.Batch != e.Batches && time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		data, _ := json.Marshal(e)
		if _, err := f.Write(append(data, '\n')); err != nil {
			// The sweep is gone (killed): stop as Ctrl-C stops a run, at
			// the batch boundary with a checkpoint, for the next sweep to
			// resume, rather than train on unwatched beside it.
			orphaned = true
			syscall.Kill(os.Getpid(), syscall.SIGINT)
		}
	}
}
