package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/grid"
	"github.com/tinydigits/tinydigits/sweep/pool"
	"github.com/tinydigits/tinydigits/sweep/search"
	"github.com/tinydigits/tinydigits/sweep/slurm"
	"github.com/tinydigits/tinydigits/train/cli"
	"github.com/tinydigits/tinydigits/train/engine"
)

// slurmExecutor runs a search's segments as Slurm jobs, one job a run
// segment, submitted by the search on the login node as slots free; it
// watches each job with squeue and reads the outcome from the run folder
// on the shared file system.
type slurmExecutor struct {
	ctx       context.Context
	dir, prog string
	data      string // MNIST for the runs without -data, on the shared file system
	opt       slurm.Options
	threads   int
	device    string
	display   *pool.Display
	out       chan search.Outcome
	n         int
}

// pollEvery is how often a job is looked for in the queue.
var pollEvery = 2 * time.Second

func newSlurmExecutor(ctx context.Context, dir string, f *flags, threads int, device, exe string, display *pool.Display) (*slurmExecutor, error) {
	prog, data, err := slurm.Stage(dir, exe, true, func(to string) error {
		_, err := mnist.Copy("", to)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &slurmExecutor{ctx: ctx, dir: dir, prog: prog, data: data, threads: threads, device: device, display: display,
		opt: slurm.Options{Threads: threads, Device: device, Name: "tinydigits-" + filepath.Base(dir), Extra: f.sbatch},
		out: make(chan search.Outcome)}, nil
}

func (e *slurmExecutor) Done() <-chan search.Outcome { return e.out }

// Start submits the segment's run as a job and follows it to its end.
func (e *slurmExecutor) Start(g search.Segment, run grid.Run) {
	e.n++
	name := fmt.Sprintf("%s-seed%d-epoch%d-%d", g.Candidate.ID, g.Seed, g.StopAfter, e.n)
	go func() { e.out <- e.follow(g, run, name) }()
}

// follow plans the run as the pool would, submits it, waits for the job to
// leave the queue and reads where the run stands.
func (e *slurmExecutor) follow(g search.Segment, run grid.Run, name string) search.Outcome {
	o := search.Outcome{Segment: g}
	plan, err := pool.Prepare(e.dir, run, e.threads, e.device)
	if err == nil && plan.State == pool.Fresh {
		err = pool.Record(e.dir, run, e.threads, e.device)
	}
	if err != nil {
		o.Why = err.Error()
		return o
	}
	args := append([]string{e.prog, "train"}, plan.Args...)
	opt := e.opt
	if cfg, err := cli.Parse(run.Args); err == nil {
		if !cfg.Overridden["data"] {
			args = append(args, "-data", e.data)
		}
		opt.MemMB = int(engine.EstimateMB(cfg)*1.25 + 0.5)
	}
	if g.StopAfter > 0 {
		args = append(args, "-stop-after", fmt.Sprint(g.StopAfter))
	}
	id, err := slurm.SubmitJob(e.dir, name, opt, args)
	if err != nil {
		o.Why = err.Error()
		return o
	}
	e.display.Line(fmt.Sprintf("%s: job %s submitted (train %s)", run.Dir, id, strings.Join(args[2:], " ")))
	if stopped, err := e.wait(id); err != nil || stopped {
		o.Stopped, o.Why = stopped, fmt.Sprint(err)
		return o
	}
	runDir := filepath.Join(e.dir, run.Dir)
	rows, _ := runfolder.ReadMetrics(runDir)
	switch {
	case runfolder.Finished(runDir), g.StopAfter > 0 && len(rows) >= g.StopAfter:
		o.OK = true
		e.display.Line(fmt.Sprintf("%s: job %s reached epoch %d", run.Dir, id, len(rows)))
	default:
		o.Why = fmt.Sprintf("job %s ended at epoch %d: %s", id, len(rows), lastLine(filepath.Join(e.dir, slurm.Folder, name+".out")))
	}
	return o
}

// wait waits until job id leaves the queue; when the search is stopped
// meanwhile, it cancels the job (the run saves its checkpoint) and says so.
func (e *slurmExecutor) wait(id string) (stopped bool, err error) {
	for {
		running, err := slurm.Running(id)
		if err != nil || !running {
			return false, err
		}
		select {
		case <-e.ctx.Done():
			slurm.Cancel(id)
			for running, _ = slurm.Running(id); running; running, _ = slurm.Running(id) {
				time.Sleep(pollEvery)
			}
			return true, nil
		case <-time.After(pollEvery):
		}
	}
}

// lastLine is a file's last line that is not empty.
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "no output"
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}
