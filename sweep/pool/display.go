package pool

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tinydigits/tinydigits/internal/command"
)

// Display shows a pool's progress. On a terminal it redraws one line per
// running run (its settings, epoch, batch and last accuracy) and an
// overall bar with the runs done and an estimate of the time left; every
// event also goes as a plain line to the log, and, when the output is not
// a terminal, to the output, with an overall line every half minute.
type Display struct {
	out      io.Writer
	log      io.Writer
	terminal bool
	width    func() int // the terminal's columns, 0 when unknown

	mu      sync.Mutex // guards the writers, drawn and showing
	drawn   int        // lines of the live view on the terminal
	showing bool       // a pool's live view runs
	tasks   []*Task
	taskMu  *sync.Mutex
	began   time.Time
	done    chan struct{}
	stopped chan struct{}
	jobs    int
}

// NewDisplay shows progress on out (live lines when terminal is true) and
// writes plain lines to log (nil for none). width, when not nil, gives the
// terminal's columns: live lines are cut to fit, so that none wraps.
func NewDisplay(out, log io.Writer, terminal bool, width func() int) *Display {
	if log == nil {
		log = io.Discard
	}
	if width == nil {
		width = func() int { return 0 }
	}
	return &Display{out: out, log: log, terminal: terminal, width: width}
}

// errShowing refuses a second pool on a display while one shows: two
// live views would tick on the same lines.
var errShowing = errors.New("the progress display already shows a pool's live view; stop that pool first")

func (d *Display) start(tasks []*Task, mu *sync.Mutex, opt Options) error {
	todo := 0
	for _, t := range tasks {
		if t.Status == Waiting {
			todo++
		}
	}
	if err := d.live(tasks, mu, opt); err != nil {
		return err
	}
	d.line(fmt.Sprintf("sweep: %d runs, %d to run (%d finished before), %d at a time, %s each, device %s",
		len(tasks), todo, len(tasks)-todo, opt.Jobs, command.Plural(opt.Threads, "thread"), opt.Device), true)
	return nil
}

// live starts the live view (or the plain overall lines) of tasks, whose
// fields mu guards; one pool at a time.
func (d *Display) live(tasks []*Task, mu *sync.Mutex, opt Options) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.showing {
		return errShowing
	}
	d.showing = true
	d.tasks, d.taskMu, d.began, d.jobs = tasks, mu, time.Now(), opt.Jobs
	done, stopped := make(chan struct{}), make(chan struct{})
	d.done, d.stopped = done, stopped
	go func() {
		defer close(stopped)
		period := 30 * time.Second
		if d.terminal {
			period = 250 * time.Millisecond
		}
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if d.terminal {
					d.redraw()
				} else {
					d.line(d.overall(), true)
				}
			}
		}
	}()
	return nil
}

// stop ends the live view and writes the overall line; the display can
// then show another pool. Stopping a display that shows nothing does
// nothing.
func (d *Display) stop() {
	d.mu.Lock()
	done, stopped := d.done, d.stopped
	d.done = nil
	d.mu.Unlock()
	if done == nil {
		return
	}
	close(done)
	<-stopped
	d.mu.Lock()
	d.clear()
	d.showing = false
	d.mu.Unlock()
	d.line(d.overall(), true)
}

// Line writes a line of the caller's own to the log and the output, above
// the live view.
func (d *Display) Line(s string) { d.line(s, true) }

// event reports something that happened to a run.
func (d *Display) event(t *Task, what string) {
	d.line(fmt.Sprintf("%s: %s", t.Run.Dir, what), !d.terminal || strings.HasPrefix(what, "failed") || strings.HasPrefix(what, "done") || strings.HasPrefix(what, "stopped"))
}

// line writes a plain line to the log and, when toOut, to the output
// (above the live view on a terminal).
func (d *Display) line(s string, toOut bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.log, "%s %s\n", time.Now().Format("15:04:05"), s)
	if !toOut {
		return
	}
	d.clear()
	fmt.Fprintln(d.out, s)
	if d.terminal {
		d.draw()
	}
}

// clear erases the live view (the caller holds d.mu).
func (d *Display) clear() {
	if d.drawn > 0 {
		fmt.Fprintf(d.out, "\x1b[%dA\x1b[J", d.drawn)
		d.drawn = 0
	}
}

func (d *Display) redraw() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	d.draw()
}

// draw writes the live view (the caller holds d.mu).
func (d *Display) draw() {
	if d.taskMu == nil {
		return
	}
	var lines []string
	d.taskMu.Lock()
	for _, t := range d.tasks {
		if t.Status != Running {
			continue
		}
		s := fmt.Sprintf("  %-32s", t.Run.Dir)
		switch {
		case t.Batches > 0 && t.Batch == t.Batches && t.Evaluated < t.Epoch:
			s += fmt.Sprintf(" epoch %d/%d evaluating", t.Epoch, t.Epochs)
		case t.Batches > 0:
			s += fmt.Sprintf(" epoch %d/%d batch %d/%d", t.Epoch, t.Epochs, t.Batch, t.Batches)
		default:
			s += " starting"
		}
		if t.HaveAcc {
			s += fmt.Sprintf("  last %.2f%%", t.LastAcc)
		}
		s += "  " + time.Since(t.Started).Round(time.Second).String()
		lines = append(lines, s)
	}
	d.taskMu.Unlock()
	lines = append(lines, d.overall())
	w := d.width()
	for _, l := range lines {
		if r := []rune(l); w > 1 && len(r) >= w {
			l = string(r[:w-1])
		}
		fmt.Fprintln(d.out, l)
	}
	d.drawn = len(lines)
}

// overall is the sweep's progress: a bar of the training batches, the
// runs by status and the time left, estimated from the batches done so
// far (a run not yet started counts as the average of those that have).
func (d *Display) overall() string {
	if d.taskMu == nil {
		return ""
	}
	d.taskMu.Lock()
	defer d.taskMu.Unlock()
	var total, done, known, knownWork int
	var finished, failed, running, todo int
	for _, t := range d.tasks {
		switch t.Status {
		case Skipped:
			continue
		case Done, Paused:
			finished++
		case Failed:
			failed++
		case Running:
			running++
		}
		todo++
		w, dn := t.work()
		if w > 0 {
			known++
			knownWork += w
		}
		total += w
		done += dn
		if t.Status == Failed || t.Status == Stopped {
			total -= w - dn // no more work will come from it
		}
	}
	if todo == 0 {
		return "sweep: nothing to run"
	}
	if known > 0 {
		avg := knownWork / known
		for _, t := range d.tasks {
			if w, _ := t.work(); w == 0 && (t.Status == Waiting || t.Status == Running) {
				total += avg
			}
		}
	}
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	const width = 20
	n := int(frac * width)
	bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
	elapsed := time.Since(d.began)
	eta := "ETA -"
	if done > 0 && total > done {
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		eta = "ETA " + left.Round(time.Second).String()
	} else if total > 0 && done >= total {
		eta = "ETA 0s"
	}
	s := fmt.Sprintf("%s %3.0f%%  %s  %d/%d runs done, %d running", bar, 100*frac, eta, finished, todo, running)
	if failed > 0 {
		s += fmt.Sprintf(", %d failed", failed)
	}
	return s + fmt.Sprintf(", %s elapsed", elapsed.Round(time.Second))
}
