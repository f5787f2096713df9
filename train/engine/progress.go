package engine

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/runfolder"
)

// Event is a run's progress for a watcher (Config.Events). Epoch is
// 1-based; Batch counts the epoch's finished training batches (0 when the
// run starts or resumes at the epoch's beginning). Metrics is set once the
// epoch's evaluation has finished.
type Event struct {
	Epoch   int                     `json:"epoch"`
	Epochs  int                     `json:"epochs"`
	Batch   int                     `json:"batch"`
	Batches int                     `json:"batches"`
	Metrics *runfolder.EpochMetrics `json:"metrics,omitempty"`
}

// progress reports a training epoch: a tqdm-style bar on a terminal, plain
// lines every LogInterval batches otherwise (CI logs, pipes), nothing when
// quiet.
type progress struct {
	out      io.Writer
	bar      *progressbar.ProgressBar
	epoch    int
	epochs   int
	total    int // images in the epoch
	batches  int
	interval int
	quiet    bool
	start    time.Time
	shown    int // images the bar has counted
	events   func(Event)
}

func newProgress(out io.Writer, cfg Config, epoch, images, batches int) *progress {
	p := &progress{out: out, epoch: epoch + 1, epochs: cfg.Epochs, total: images, batches: batches,
		interval: cfg.LogInterval, quiet: cfg.Quiet, start: time.Now(), events: cfg.Events}
	bar := command.IsTerminal(out)
	if cfg.Progress != nil {
		bar = *cfg.Progress
	}
	if bar && !cfg.Quiet {
		p.bar = progressbar.NewOptions(images,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", p.epoch, p.epochs)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"),
			progressbar.OptionSetWidth(20),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// update records that the epoch has reached batch (1-based) and seen
// images, with the batch's loss and the epoch's running tally.
func (p *progress) update(batch, seen int, loss float64, t tally) {
	n := seen - p.shown
	p.shown = seen
	acc := 100 * float64(t.correct) / float64(t.seen)
	if p.events != nil {
		p.events(Event{Epoch: p.epoch, Epochs: p.epochs, Batch: batch, Batches: p.batches})
	}
	switch {
	case p.quiet:
	case p.bar != nil:
		p.bar.Describe(fmt.Sprintf("epoch %d/%d loss=%.4f batch=%d/%d acc=%.2f%%", p.epoch, p.epochs, loss, batch, p.batches, acc))
		p.bar.Add(n)
	case batch%p.interval == 0 || batch == p.batches:
		rate := float64(t.seen) / time.Since(p.start).Seconds()
		fmt.Fprintf(p.out, "  epoch %d [%d/%d (%.0f%%)] batch %d/%d loss %.4f acc %.2f%% %.0f img/s\n",
			p.epoch, t.seen, p.total, 100*float64(t.seen)/float64(p.total), batch, p.batches, loss, acc, rate)
	}
}

// finish clears the bar before the epoch's summary line.
func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar.Exit()
	}
}
