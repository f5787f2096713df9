// Command sweep trains grids of runs: nets × settings × seeds, each an
// ordinary train run in its own folder, several at a time, and reports
// them.
//
//	go run ./sweep -arch tiny -seeds 1-3
//	go run ./sweep -arch tiny,step3 -seeds 1-5 -set lr=0.05,0.1 -set batch-size=32,64
//	go run ./sweep -file my-sweep.json
//	go run ./sweep -report runs/sweep-tiny
//	go run ./sweep -arch tiny -seeds 1-40 -slurm -submit
//	go run ./sweep -search searches/step3-budget.json -final
//
// Ctrl-C stops every run at a batch boundary; the same command again skips
// the finished runs and resumes the others. Exit status: 0 every run
// finished, 1 a run failed, 2 bad usage or input, 130 stopped.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/internal/lockfile"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/sweep/grid"
	"github.com/tinydigits/tinydigits/sweep/pool"
	"github.com/tinydigits/tinydigits/sweep/report"
	"github.com/tinydigits/tinydigits/sweep/search"
	"github.com/tinydigits/tinydigits/sweep/slurm"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/train/cli"
	"github.com/tinydigits/tinydigits/train/engine"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// maxGPUJobs is the default number of runs sharing one GPU: the tiny net's
// tuning ran 12 at once on an H100.
const maxGPUJobs = 12

type flags struct {
	fs                     *pflag.FlagSet
	archs, seeds, file     string
	search                 string
	sets, sbatch           []string
	out, device, reportDir string
	jobs, threads, task    int
	slurm, submit, dryRun  bool
	final                  bool
}

func newFlags() *flags {
	f := &flags{fs: pflag.NewFlagSet("sweep", pflag.ContinueOnError)}
	fs := f.fs
	fs.SortFlags = false
	fs.StringVar(&f.archs, "arch", "", "nets: "+strings.Join(models.Names(), ", ")+" or arch files, comma-separated")
	fs.StringVar(&f.seeds, "seeds", "", "seeds: 1-5, 1,2,7 or a mix (default 1)")
	fs.StringArrayVar(&f.sets, "set", nil, "a train flag and its values: lr=0.05,0.1 (repeat for more flags; one value applies to every run; flags the sweep sets itself, such as -seed, -out or -threads, are refused)")
	fs.StringVar(&f.file, "file", "", "a sweep file (JSON: archs, seeds, set); -arch and -seeds given beside it replace its archs and seeds, and each -set NAME=... its set's NAME")
	fs.StringVar(&f.out, "out", "", "the sweep folder (default runs/sweep-<arch>)")
	fs.IntVar(&f.jobs, "jobs", 0, "runs at a time (default: CPU cores ÷ -threads, fewer if memory would not hold them; on a GPU min(cores, 12))")
	fs.IntVar(&f.threads, "threads", 0, "libtorch threads per run (default 1, or cores ÷ -jobs when -jobs is given)")
	fs.StringVar(&f.device, "device", "auto", "cpu, cuda, cuda:N, or auto (CUDA when this libtorch has it, else the CPU), for every run")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check the sweep and list its runs, run nothing")
	fs.StringVar(&f.reportDir, "report", "", "write SWEEP.md, sweep.csv and the plots of the sweep in this folder, run nothing")
	fs.BoolVar(&f.slurm, "slurm", false, "write a Slurm job array (one task per run) into <out>/slurm instead of running here")
	fs.BoolVar(&f.submit, "submit", false, "with -slurm: submit the array with sbatch")
	fs.StringArrayVar(&f.sbatch, "sbatch", nil, "with -slurm: an sbatch option for the script, e.g. --partition=cpu (repeatable)")
	fs.StringVar(&f.search, "search", "", "search FILE: find nets within a parameter budget that hold a target, stopping bad candidates early (docs/search.md)")
	fs.BoolVar(&f.final, "final", false, "with -search: after the search, train its best candidates on fresh validation seeds, then the best of them once on the test set")
	fs.IntVar(&f.task, "task", 0, "run task N of the Slurm array in the sweep folder given as the argument (the array's script calls this)")
	fs.SetOutput(io.Discard)
	return f
}

func usage(w io.Writer, f *flags) {
	fmt.Fprintf(w, `Usage: go run ./sweep [flags]

Trains every combination of nets, train settings and seeds, each an ordinary
run folder under the sweep folder (CONFIG/seedN), several at a time, and
writes SWEEP.md, sweep.csv, accuracy.png and params.png there. Ctrl-C stops
the runs at a batch boundary; the same command again resumes them. With
-search it searches instead: nets around a base net within a parameter
budget, bad candidates stopped early (SEARCH.md in the search folder).

  go run ./sweep -arch tiny -seeds 1-3
  go run ./sweep -arch tiny,step3 -seeds 1-5 -set lr=0.05,0.1 -set epochs=2
  go run ./sweep -report runs/sweep-tiny
  go run ./sweep -search searches/step3-budget.json -final

Flags:
%s`, f.fs.FlagUsages())
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "train" {
		// One run of the pool: the train command, reporting its progress.
		return cli.Main(args[1:], stdout, stderr, func(c *engine.Config) { c.Events = pool.WriteEvents() })
	}
	f := newFlags()
	if err := f.fs.Parse(command.LongDashes(args, f.fs)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			usage(stdout, f)
			return command.ExitOK
		}
		fmt.Fprintf(stderr, "sweep: %v (see -h)\n", err)
		return command.ExitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitUsage
	}
	switch {
	case f.reportDir != "":
		if f.fs.NArg() > 0 {
			return fail(fmt.Errorf("unexpected argument %q", f.fs.Arg(0)))
		}
		if _, err := os.Stat(filepath.Join(f.reportDir, search.StateFile)); err == nil {
			s, err := search.OpenFolder(f.reportDir)
			if err != nil {
				return fail(err)
			}
			return searchReport(s, stdout, stderr)
		}
		return writeReport(f.reportDir, stdout, stderr, true)
	case f.search != "":
		if f.fs.NArg() > 0 {
			return fail(fmt.Errorf("unexpected argument %q (see -h)", f.fs.Arg(0)))
		}
		if f.archs != "" || f.file != "" || len(f.sets) > 0 || f.seeds != "" {
			return fail(errors.New("-search takes its nets, settings and seeds from its file, not from -arch, -file, -set or -seeds"))
		}
		return runSearch(f, stdout, stderr)
	case f.final:
		return fail(errors.New("-final goes with -search"))
	case f.task > 0:
		if f.fs.NArg() != 1 {
			return fail(errors.New("-task N takes the sweep folder as its one argument"))
		}
		return runTask(f.fs.Arg(0), f.task, stdout, stderr)
	case f.fs.NArg() > 0:
		return fail(fmt.Errorf("unexpected argument %q (see -h)", f.fs.Arg(0)))
	case f.submit && !f.slurm:
		return fail(errors.New("-submit goes with -slurm"))
	}
	p, err := f.plan(stderr)
	if err != nil {
		return fail(err)
	}
	switch {
	case f.slurm:
		return writeSlurm(f, p.dir, p.runs, p.threads, p.device, stdout, stderr)
	case f.dryRun:
		fmt.Fprintf(stdout, "sweep %s: %d runs, %d at a time, %s each, device %s\n", p.dir, len(p.runs), p.jobs, command.Plural(p.threads, "thread"), p.device)
		for i, r := range p.runs {
			fmt.Fprintf(stdout, "  %-40s %-8s train %s\n", r.Dir, p.states[i], strings.Join(r.Args, " "))
		}
		return command.ExitOK
	}
	return runHere(p, stdout, stderr)
}

// sweepPlan is a sweep checked and sized: its runs, its folder, its device
// and its pool.
type sweepPlan struct {
	dir           string
	runs          []grid.Run
	states        []pool.State // each run's, as the sweep starts
	device        string
	jobs, threads int
}

// plan checks the sweep the flags describe and sizes its pool; a note on
// the pool's size goes to stderr.
func (f *flags) plan(stderr io.Writer) (*sweepPlan, error) {
	spec, err := f.spec()
	if err != nil {
		return nil, err
	}
	p := &sweepPlan{dir: f.out}
	if p.runs, err = spec.Expand(); err != nil {
		return nil, err
	}
	if p.dir == "" {
		p.dir = defaultOut(p.runs)
	}
	if p.device, err = resolveDevice(f.device, !f.slurm); err != nil {
		return nil, err
	}
	jobs, threads, note, err := poolSize(f, p.device, p.runs)
	if err != nil {
		return nil, err
	}
	if note != "" {
		fmt.Fprintln(stderr, "sweep: "+note)
	}
	todo := 0
	for _, r := range p.runs {
		plan, err := pool.Prepare(p.dir, r, threads, p.device)
		if err != nil {
			return nil, err
		}
		p.states = append(p.states, plan.State)
		if plan.State != pool.Finished {
			todo++
		}
	}
	p.jobs, p.threads = max(1, min(jobs, todo)), threads // no more slots than runs to do
	return p, nil
}

// runHere runs the sweep's runs on this machine in a pool, holding the
// sweep folder, with the live view, and writes the report.
func runHere(p *sweepPlan, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitUsage
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fail(err)
	}
	unlock, err := lockSweep(p.dir)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	logFile, err := os.OpenFile(filepath.Join(p.dir, "sweep.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	ctx, quit, stop := interruptible(stderr)
	defer stop()
	display := pool.NewDisplay(stdout, logFile, command.IsTerminal(stdout), func() int { return terminalWidth(stdout) })
	outcome, err := pool.Run(ctx, p.dir, p.runs, pool.Options{
		Jobs: p.jobs, Threads: p.threads, Device: p.device,
		Command: []string{exe, "train"}, Quit: quit, Display: display, Pin: p.device == "cpu",
	})
	if err != nil {
		return fail(err)
	}
	code := outcomeCode(outcome, ctx.Err() != nil, stderr)
	if rc := writeReport(p.dir, stdout, stderr, code == command.ExitOK); rc != command.ExitOK && code == command.ExitOK {
		code = rc
	}
	return code
}

// terminalWidth is w's width in columns, 0 when it is not a terminal.
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil {
			return width
		}
	}
	return 0
}

// outcomeCode says which runs failed or were stopped and returns the
// sweep's exit status.
func outcomeCode(outcome *pool.Outcome, stopped bool, stderr io.Writer) int {
	code := command.ExitOK
	if n := outcome.Count(pool.Failed); n > 0 {
		fmt.Fprintf(stderr, "sweep: %d of %d runs failed:\n", n, len(outcome.Tasks))
		for _, t := range outcome.Tasks {
			if t.Status == pool.Failed {
				fmt.Fprintf(stderr, "  %s: %s\n", t.Run.Dir, t.Err)
			}
		}
		code = command.ExitFailure
	}
	if n := outcome.Count(pool.Stopped) + outcome.Count(pool.NotStarted); stopped && n > 0 {
		fmt.Fprintf(stderr, "sweep: stopped; %d runs unfinished: run the same command again to go on\n", n)
		code = command.ExitStopped
	}
	return code
}

// lockSweep takes the sweep folder's lock, so that two sweeps never train
// the same runs at once; the lock goes with the process.
func lockSweep(dir string) (func(), error) {
	l, err := lockfile.Acquire(dir, "sweep.lock")
	var busy *lockfile.Busy
	if errors.As(err, &busy) {
		holder := busy.Holder
		if holder == "" {
			holder = "another process"
		}
		return nil, fmt.Errorf("another sweep is running in %s (%s); wait for it, or stop it first", dir, holder)
	}
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// spec is the sweep the flags (and the sweep file, if any) describe.
func (f *flags) spec() (grid.Spec, error) {
	var s grid.Spec
	if f.file != "" {
		var err error
		if s, err = grid.ReadFile(f.file); err != nil {
			return s, err
		}
	}
	if f.archs != "" {
		s.Archs = nil
		for _, a := range strings.Split(f.archs, ",") {
			if a = strings.TrimSpace(a); a != "" {
				s.Archs = append(s.Archs, a)
			}
		}
	}
	switch {
	case f.seeds != "":
		seeds, err := grid.ParseSeeds(f.seeds)
		if err != nil {
			return s, err
		}
		s.Seeds = seeds
	case len(s.Seeds) == 0:
		s.Seeds = []uint64{1}
	}
	if s.Set == nil {
		s.Set = map[string][]string{}
	}
	given := map[string]bool{}
	for _, set := range f.sets {
		name, vals, err := grid.ParseSet(set)
		if err != nil {
			return s, err
		}
		if given[name] {
			return s, fmt.Errorf("-set %s is given twice: list its values in one -set, comma-separated", name)
		}
		given[name] = true
		s.Set[name] = vals
	}
	return s, nil
}

// defaultOut is runs/sweep-<arch>[+<arch>...].
func defaultOut(runs []grid.Run) string {
	var labels []string
	seen := map[string]bool{}
	for _, r := range runs {
		label, _, _ := strings.Cut(r.Config, ",")
		if !seen[label] {
			seen[label] = true
			labels = append(labels, label)
		}
	}
	name := strings.Join(labels, "+")
	if len(name) > 60 {
		name = name[:60]
	}
	return filepath.Join("runs", "sweep-"+name)
}

// resolveDevice checks the device and, for runs on this machine (local),
// turns auto into cpu or cuda and checks that CUDA is there. A Slurm array
// runs elsewhere: its tasks check their device where they run, and auto
// stays auto, decided by each task on its node.
func resolveDevice(s string, local bool) (string, error) {
	if s == "auto" {
		switch {
		case !local:
			return s, nil
		case torch.CUDAAvailable():
			return "cuda", nil
		}
		return "cpu", nil
	}
	if !local {
		if err := torch.CheckDeviceName(s); err != nil {
			return "", fmt.Errorf("-device: %v", err)
		}
		return s, nil
	}
	if _, err := torch.ParseDevice(s); err != nil {
		return "", fmt.Errorf("-device: %v (-slurm writes a GPU array on any machine)", err)
	}
	return s, nil
}

// poolSize is the runs at a time and the threads of each: what was given,
// else from measurement (BENCHMARKS.md, "Sweeps"): on a CPU, one-thread
// runs, one per core, which gave the most images per second in total; on
// a GPU, up to 12 one-thread runs share it. Jobs are lowered where the
// memory would not hold them, and the note says so.
func poolSize(f *flags, device string, runs []grid.Run) (jobs, threads int, note string, err error) {
	cores := runtime.NumCPU()
	switch {
	case f.jobs < 0 || f.jobs > engine.MaxWorkers:
		return 0, 0, "", fmt.Errorf("-jobs must be in [1, %d], got %d", engine.MaxWorkers, f.jobs)
	case f.threads < 0 || f.threads > engine.MaxThreads:
		return 0, 0, "", fmt.Errorf("-threads must be in [1, %d], got %d", engine.MaxThreads, f.threads)
	}
	jobs, threads = f.jobs, f.threads
	if threads == 0 {
		threads = 1
		if jobs > 0 && device == "cpu" {
			threads = max(1, cores/jobs)
		}
	}
	if jobs == 0 {
		jobs = max(1, cores/threads)
		if device != "cpu" {
			jobs = max(1, min(cores, maxGPUJobs))
		}
	}
	// The most memory one of these runs takes.
	need := 0.0
	for _, r := range runs {
		cfg, err := cli.Parse(r.Args)
		if err != nil {
			return 0, 0, "", err
		}
		need = max(need, engine.EstimateMB(cfg))
	}
	avail := engine.AvailableMB()
	if avail > 0 && need > 0 && !f.slurm { // a Slurm array asks each task's memory of its node (--mem)
		fit := int(0.9 * avail / need)
		if fit < 1 {
			return 0, 0, "", fmt.Errorf("one run needs about %.0f MB and %.0f MB of memory are available", need, avail)
		}
		if fit < jobs {
			note = fmt.Sprintf("%d runs at a time instead of %d: each needs about %.0f MB and %.0f MB are available", fit, jobs, need, avail)
			jobs = fit
		}
	}
	return jobs, threads, note, nil
}

// writeSlurm writes (and with -submit submits) the sweep's job array.
func writeSlurm(f *flags, dir string, runs []grid.Run, threads int, device string, stdout, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %v\n", err)
		return command.ExitUsage
	}
	need, ownData := 0.0, true
	for _, r := range runs {
		cfg, _ := cli.Parse(r.Args)
		need = max(need, engine.EstimateMB(cfg))
		ownData = ownData && cfg.Overridden["data"]
	}
	// The tasks read MNIST from the sweep folder, which every node sees,
	// not from each node's Go module cache; runs given -data keep theirs.
	data := ""
	if !ownData {
		data = filepath.Join(dir, slurm.Folder, slurm.DataFolder)
		if _, err := mnist.Copy("", data); err != nil {
			fmt.Fprintf(stderr, "sweep: -slurm: %s\n", command.OneLine(err))
			return command.ExitUsage
		}
	}
	script, err := slurm.Write(dir, runs, slurm.Options{
		Threads: threads, Device: device, MemMB: int(need*1.25 + 0.5), Jobs: f.jobs,
		Name: "tinydigits-" + filepath.Base(dir), Extra: f.sbatch, Program: exe, Data: data,
	})
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitUsage
	}
	fmt.Fprintf(stdout, "sweep: %d runs as a Slurm job array: %s\n", len(runs), script)
	if !f.submit {
		fmt.Fprintf(stdout, "submit it with:  sbatch %s\nthen, when it is done:  go run ./sweep -report %s\n", script, dir)
		return command.ExitOK
	}
	msg, err := slurm.Submit(script)
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitFailure
	}
	fmt.Fprintf(stdout, "%s\nwhen it is done:  go run ./sweep -report %s\n", msg, dir)
	return command.ExitOK
}

// runTask runs line n of the sweep's Slurm array in this process.
func runTask(dir string, n int, stdout, stderr io.Writer) int {
	line, err := slurm.ReadLine(dir, n)
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitUsage
	}
	r := line.Run()
	// A task that Slurm requeued may start while its predecessor still
	// saves its checkpoint: wait for the folder (train holds it while it
	// trains, so two never train it at once), then see where the run is.
	pool.WaitForFolder(context.Background(), filepath.Join(dir, r.Dir), func(holder string) {
		fmt.Fprintf(stdout, "sweep: waiting for %s to leave %s\n", holder, r.Dir)
	})
	plan, err := pool.Prepare(dir, r, line.Threads, line.Device)
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitUsage
	}
	if plan.State == pool.Finished {
		fmt.Fprintf(stdout, "sweep: %s is finished\n", r.Dir)
		return command.ExitOK
	}
	if line.Data != "" {
		if cfg, err := cli.Parse(r.Args); err == nil && !cfg.Overridden["data"] {
			plan.Args = append(plan.Args, "-data", line.Data)
		}
	}
	if plan.State == pool.Fresh {
		if err := pool.Record(dir, r, line.Threads, line.Device); err != nil {
			fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
			return command.ExitFailure
		}
	}
	logFile, err := os.OpenFile(filepath.Join(dir, r.Dir, pool.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %v\n", err)
		return command.ExitFailure
	}
	defer logFile.Close()
	host, _ := os.Hostname()
	fmt.Fprintf(io.MultiWriter(stdout, logFile), "== task %d on %s: train %s\n", n, host, strings.Join(plan.Args, " "))
	return cli.Main(plan.Args, io.MultiWriter(stdout, logFile), io.MultiWriter(stderr, logFile))
}

// writeReport collects the sweep in dir and writes its report files.
func writeReport(dir string, stdout, stderr io.Writer, show bool) int {
	s, err := report.Collect(dir)
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitUsage
	}
	files, err := s.Write()
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitFailure
	}
	if show {
		fmt.Fprintln(stdout)
		s.Markdown(stdout)
	}
	fmt.Fprintf(stdout, "\nwrote %s in %s\n", strings.Join(files, ", "), dir)
	return command.ExitOK
}

// interruptible is the context of a sweep's runs: Ctrl-C cancels it (every
// run stops after its batch) and a second Ctrl-C closes quit (the runs quit
// at once). stop ends the watch.
func interruptible(stderr io.Writer) (ctx context.Context, quit chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	quit = make(chan struct{})
	end := command.OnInterrupt(func() {
		fmt.Fprintln(stderr, "\nsweep: stopping every run after its batch (Ctrl-C again to quit them at once)")
		cancel()
	}, func() { close(quit) })
	return ctx, quit, func() { end(); cancel() }
}
