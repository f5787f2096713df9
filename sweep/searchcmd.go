package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/sweep/grid"
	"github.com/tinydigits/tinydigits/sweep/pool"
	"github.com/tinydigits/tinydigits/sweep/report"
	"github.com/tinydigits/tinydigits/sweep/search"
	"github.com/tinydigits/tinydigits/train/cli"
)

// runSearch is -search FILE: the search in its folder (started, or
// continued where it stopped), then its report; with -final, the final
// step after it.
func runSearch(f *flags, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitUsage
	}
	spec, err := search.ReadSpec(f.search)
	if err != nil {
		return fail(err)
	}
	dir := f.out
	if dir == "" {
		dir = filepath.Join("runs", "search-"+strings.TrimSuffix(filepath.Base(f.search), ".json"))
	}
	s, err := search.Open(spec, dir)
	if err != nil {
		return fail(err)
	}
	if f.dryRun {
		return searchDryRun(s, stdout)
	}
	device, err := resolveDevice(f.device, !f.slurm)
	if err != nil {
		return fail(err)
	}
	jobs, threads, note, err := searchPool(f, device, spec)
	if err != nil {
		return fail(err)
	}
	if note != "" {
		fmt.Fprintln(stderr, "sweep: "+note)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	unlock, err := lockSweep(dir)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	logFile, err := os.OpenFile(filepath.Join(dir, "search.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()
	ctx, quit, stop := interruptible(stderr)
	defer stop()
	display := pool.NewDisplay(stdout, logFile, command.IsTerminal(stdout), func() int { return terminalWidth(stdout) })
	display.Line(fmt.Sprintf("search %s: %d candidates around %s, seeds %s, rungs at epochs %v, %d at a time, %s each, device %s",
		dir, spec.Candidates, spec.BaseArch().Name, spec.Seeds, s.Rungs(), jobs, command.Plural(threads, "thread"), device))
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	opt := pool.Options{Jobs: jobs, Threads: threads, Device: device, Command: []string{exe, "train"}, Quit: quit, Display: display, Pin: device == "cpu"}
	var ex search.Executor
	stopLocal := func() {}
	if f.slurm {
		sl, err := newSlurmExecutor(ctx, dir, f, threads, device, exe, display)
		if err != nil {
			return fail(err)
		}
		ex = sl
	} else {
		local, err := search.NewLocal(ctx, dir, opt)
		if err != nil {
			return fail(err)
		}
		stopLocal = local.Stop
		ex = local
	}
	err = s.Drive(ctx, ex, jobs)
	// The search's pool and its live view end here, before the final
	// step's pools start theirs on the same display.
	stopLocal()
	code := command.ExitOK
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "sweep: search stopped; run the same command again to go on with the same decisions")
		code = command.ExitStopped
	case err != nil:
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		code = command.ExitFailure
	}
	if rc := searchReport(s, stdout, stderr); rc != command.ExitOK && code == command.ExitOK {
		code = rc
	}
	if code == command.ExitOK && f.final {
		return runFinal(ctx, s, opt, stdout, stderr)
	}
	return code
}

// searchPool is the search's runs at a time and threads each, as a
// sweep's pool is sized (from the base net's memory).
func searchPool(f *flags, device string, spec *search.Spec) (jobs, threads int, note string, err error) {
	base := spec.BaseArch()
	file := filepath.Join(os.TempDir(), fmt.Sprintf("tinydigits-search-base-%d.json", os.Getpid()))
	if err := os.WriteFile(file, base.MarshalFile(), 0o644); err != nil {
		return 0, 0, "", err
	}
	defer os.Remove(file)
	runs := []grid.Run{{Args: []string{"-arch", file, "-holdout", fmt.Sprint(spec.Holdout)}}}
	return poolSize(f, device, runs)
}

// searchDryRun lists the search's space and its first draws with their
// parameter counts, and runs nothing.
func searchDryRun(s *search.Search, stdout io.Writer) int {
	spec := s.Spec
	fmt.Fprintf(stdout, "search around %s (%s parameters), budget %d, seeds %s, rungs at epochs %v (η = %d), %d candidates\n",
		spec.BaseArch().Name, models.Thousands(spec.BaseArch().Params()), spec.Budget, spec.Seeds, s.Rungs(), spec.Eta, spec.Candidates)
	for _, line := range s.Preview(10) {
		fmt.Fprintln(stdout, "  "+line)
	}
	return command.ExitOK
}

// searchReport writes the search's report and prints SEARCH.md.
func searchReport(s *search.Search, stdout, stderr io.Writer) int {
	files, err := s.Report()
	if err != nil {
		fmt.Fprintf(stderr, "sweep: %s\n", command.OneLine(err))
		return command.ExitFailure
	}
	data, _ := os.ReadFile(filepath.Join(s.Dir, search.MarkdownFile))
	fmt.Fprintf(stdout, "\n%s\nwrote %s in %s\n", data, strings.Join(files, ", "), s.Dir)
	return command.ExitOK
}

// runFinal is the search's last step: its best candidates trained to the
// end on fresh validation seeds, then the best of them, once, on the test
// set with as many seeds; FINAL.md holds both tables.
func runFinal(ctx context.Context, s *search.Search, opt pool.Options, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "sweep: -final: %s\n", command.OneLine(err))
		return command.ExitFailure
	}
	best := s.Best()
	if len(best) == 0 {
		return fail(errors.New("no candidate has reached a rung yet"))
	}
	best = best[:min(len(best), s.Spec.Final.Top)]
	val, err := finalStage(ctx, s, best, s.Spec.Final.Seeds, true, opt)
	if err != nil {
		return fail(err)
	}
	winner := val.Ranked()[0]
	test, err := finalStage(ctx, s, []*search.Candidate{candidateByID(s, winner.Name)}, s.Spec.Final.TestSeeds, false, opt)
	if err != nil {
		return fail(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Final step of %s\n\nThe search's best %d candidates to the end on fresh validation seeds %s, then the best of them (by the mean of its seeds' last three epochs), once, on the test set with seeds %s.\n\n## Validation\n\n",
		filepath.Base(s.Dir), len(best), s.Spec.Final.Seeds, s.Spec.Final.TestSeeds)
	val.Markdown(&b)
	fmt.Fprintf(&b, "\n## Test set: %s\n\n", winner.Name)
	test.Markdown(&b)
	if err := os.WriteFile(filepath.Join(s.Dir, "FINAL.md"), []byte(b.String()), 0o644); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "\n%s\nwrote FINAL.md in %s\n", b.String(), s.Dir)
	return command.ExitOK
}

// candidateByID finds a search's candidate.
func candidateByID(s *search.Search, id string) *search.Candidate {
	for _, c := range s.State.Candidates {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// finalStage trains each candidate on every seed to the end in a sweep
// folder of the search (final/validation or final/test) and returns its
// report, best configuration first.
func finalStage(ctx context.Context, s *search.Search, cands []*search.Candidate, seeds string, validation bool, opt pool.Options) (*report.Sweep, error) {
	list, err := grid.ParseSeeds(seeds)
	if err != nil {
		return nil, err
	}
	stage := "test"
	holdout := "0"
	if validation {
		stage, holdout = "validation", fmt.Sprint(s.Spec.Holdout)
	}
	dir := filepath.Join(s.Dir, "final", stage)
	set, err := s.Spec.SetArgs()
	if err != nil {
		return nil, err
	}
	var runs []grid.Run
	for _, c := range cands {
		file, err := filepath.Abs(filepath.Join(s.Dir, search.CandidatesDir, c.ID+".json"))
		if err != nil {
			return nil, err
		}
		for _, seed := range list {
			// The search's own settings ("set": every run's), for the seeds
			// and the data set of this stage.
			args := append([]string{"-arch", file, "-holdout", holdout, "-target", fmt.Sprint(s.Spec.Target)}, set...)
			args = append(args, "-seed", fmt.Sprint(seed))
			if _, err := cli.Parse(args); err != nil {
				return nil, err
			}
			runs = append(runs, grid.Run{Config: c.ID, Arch: file, Seed: seed, Dir: filepath.Join(c.ID, fmt.Sprintf("seed%d", seed)), Args: args})
		}
	}
	opt.Display.Line(fmt.Sprintf("final, %s: %d candidates × %d seeds", stage, len(cands), len(list)))
	outcome, err := pool.Run(ctx, dir, runs, opt)
	if err != nil {
		return nil, err
	}
	if n := outcome.Count(pool.Failed) + outcome.Count(pool.Stopped) + outcome.Count(pool.NotStarted); n > 0 {
		return nil, fmt.Errorf("%d of %d runs of the %s stage did not finish; run the same command again to go on", n, len(runs), stage)
	}
	sw, err := report.Collect(dir)
	if err != nil {
		return nil, err
	}
	if _, err := sw.Write(); err != nil {
		return nil, err
	}
	return sw, nil
}
