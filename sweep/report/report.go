// Package report collects a sweep folder's runs, whichever process or
// node ran them, and writes what they found: SWEEP.md (a table of the
// configurations and one of each configuration's seeds), sweep.csv (one
// row per configuration) and PNG plots of accuracy per epoch and of
// accuracy against parameter count.
package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
)

// The report's files in the sweep folder.
const (
	MarkdownFile = "SWEEP.md"
	CSVFile      = "sweep.csv"
	AccuracyPNG  = "accuracy.png"
	ParamsPNG    = "params.png"
)

// Run is one seed's run of a configuration.
type Run struct {
	Dir    string // relative to the sweep folder
	Seed   uint64
	Result *runfolder.Result // nil while unfinished
}

// Config is a configuration (an arch with its settings) and its runs.
type Config struct {
	Name       string
	Runs       []Run // by seed
	Finished   []*runfolder.Result
	Unfinished []string // run folders without a summary.json
	// Unreadable are run folders whose summary.json does not read as a
	// finished run, each with the reason ("tiny/seed2/summary.json: ...").
	Unreadable []string
}

// Stats are a configuration's figures over its finished seeds.
type Stats struct {
	Arch        string
	Params      int64
	Seeds       int
	EvaluatedOn string  // "test" or "validation"
	Target      float64 //
	LastMean    float64 // mean of every seed's last three accuracies
	LastSD      float64 // their sample standard deviation
	LastN       int     // how many accuracies that is
	Lowest      float64 // the lowest of them
	BestMean    float64 // mean of the seeds' best accuracies
	BestSD      float64
	Held        int     // seeds whose last three all reach the target
	WallMean    float64 // seconds, mean over the seeds
	Threads     int     // of the first seed
	Device      string  //
	Recipe      string  // the recipe line, less the seed
	TestImages  int     //
	WallTotal   float64 // seconds, summed over the seeds
	EpochsCount int     // epochs of the first seed
	// Raw holds the same figures for the trained weights when the runs
	// average them (-ema, -swa-start): what the runs give without averaging.
	Raw *RawStats
}

// RawStats are the last three epochs' figures of the trained weights of
// runs that evaluate averaged weights.
type RawStats struct {
	LastMean, LastSD, Lowest float64
	Held                     int
}

// rawLast is the trained weights' accuracies of r's last three epochs, or
// nil when r does not average its weights.
func rawLast(r *runfolder.Result) []float64 {
	tail := r.Epochs[max(0, len(r.Epochs)-runfolder.LastEpochs):]
	var accs []float64
	for _, m := range tail {
		if m.RawTestAcc == 0 {
			return nil
		}
		accs = append(accs, m.RawTestAcc)
	}
	return accs
}

// Sweep is a sweep folder's configurations.
type Sweep struct {
	Dir     string
	Configs []*Config
}

// Collect reads every run folder of the sweep in dir: DIR/CONFIG/seedN
// with a summary.json (finished) or a checkpoint or sweep record (not yet).
func Collect(dir string) (*Sweep, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Sweep{Dir: dir}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c := &Config{Name: e.Name()}
		seeds, _ := filepath.Glob(filepath.Join(dir, e.Name(), "seed*"))
		for _, sd := range seeds {
			n, err := strconv.ParseUint(strings.TrimPrefix(filepath.Base(sd), "seed"), 10, 64)
			if err != nil {
				continue
			}
			rel := filepath.Join(e.Name(), filepath.Base(sd))
			res, err := runfolder.ReadResult(sd)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				if isRun(sd) {
					c.Runs = append(c.Runs, Run{Dir: rel, Seed: n})
					c.Unfinished = append(c.Unfinished, rel)
				}
				continue
			case err == nil && len(res.LastTestAccs) == 0:
				err = errors.New("no finished epochs")
			}
			if err != nil {
				summary := filepath.Join(rel, runfolder.SummaryFile)
				c.Runs = append(c.Runs, Run{Dir: rel, Seed: n})
				c.Unreadable = append(c.Unreadable, fmt.Sprintf("%s: %s", summary, strings.TrimPrefix(err.Error(), filepath.Join(sd, runfolder.SummaryFile)+": ")))
				continue
			}
			c.Runs = append(c.Runs, Run{Dir: rel, Seed: n, Result: res})
			c.Finished = append(c.Finished, res)
		}
		if len(c.Runs) == 0 {
			continue
		}
		sort.Slice(c.Runs, func(i, j int) bool { return c.Runs[i].Seed < c.Runs[j].Seed })
		sort.Slice(c.Finished, func(i, j int) bool { return c.Finished[i].Seed < c.Finished[j].Seed })
		s.Configs = append(s.Configs, c)
	}
	if len(s.Configs) == 0 {
		return nil, fmt.Errorf("%s holds no sweep runs (CONFIG/seedN folders)", dir)
	}
	return s, nil
}

// isRun reports whether a folder holds a run, finished or not.
func isRun(dir string) bool {
	for _, f := range []string{"sweep-run.json", runfolder.CheckpointFile, runfolder.ArchFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// MeanSD is the mean and the sample standard deviation (0 for one value).
func MeanSD(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)-1))
}

// Stats are c's figures; ok is false when no seed has finished.
func (c *Config) Stats() (st Stats, ok bool) {
	if len(c.Finished) == 0 {
		return st, false
	}
	first := c.Finished[0]
	st = Stats{Arch: first.Arch, Params: first.Params, Seeds: len(c.Finished), EvaluatedOn: first.EvaluatedOn,
		Target: first.Target, Threads: first.Threads, Device: first.Device, TestImages: first.TestImages,
		EpochsCount: len(first.Epochs)}
	if st.EvaluatedOn == "" {
		st.EvaluatedOn = runfolder.EvalTest
	}
	// Each run has its own seed; the marks of values set by flags depend
	// on how a run was started (a resumed run's line has none).
	st.Recipe, _, _ = strings.Cut(first.RecipeLine, ", seed ")
	st.Recipe = strings.ReplaceAll(st.Recipe, "*", "")
	var last, best, walls []float64
	st.Lowest = math.Inf(1)
	for _, r := range c.Finished {
		for _, a := range r.LastTestAccs {
			last = append(last, a)
			st.Lowest = math.Min(st.Lowest, a)
		}
		best = append(best, r.BestTestAcc)
		walls = append(walls, r.WallSeconds)
		st.WallTotal += r.WallSeconds
		if r.Consistent {
			st.Held++
		}
	}
	st.LastMean, st.LastSD = MeanSD(last)
	st.LastN = len(last)
	var raw []float64
	rs := &RawStats{Lowest: math.Inf(1)}
	for _, r := range c.Finished {
		accs := rawLast(r)
		if accs == nil {
			rs = nil
			break
		}
		held := true
		for _, a := range accs {
			raw = append(raw, a)
			rs.Lowest = math.Min(rs.Lowest, a)
			held = held && a >= r.Target
		}
		if held {
			rs.Held++
		}
	}
	if rs != nil {
		rs.LastMean, rs.LastSD = MeanSD(raw)
		st.Raw = rs
	}
	st.BestMean, st.BestSD = MeanSD(best)
	st.WallMean, _ = MeanSD(walls)
	return st, true
}

// ranked is the configurations with a finished seed, the best mean of the
// last three accuracies first.
func (s *Sweep) ranked() ([]*Config, []Stats) {
	type pair struct {
		c  *Config
		st Stats
	}
	var ps []pair
	for _, c := range s.Configs {
		if st, ok := c.Stats(); ok {
			ps = append(ps, pair{c, st})
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].st.LastMean != ps[j].st.LastMean {
			return ps[i].st.LastMean > ps[j].st.LastMean
		}
		return ps[i].c.Name < ps[j].c.Name
	})
	cs := make([]*Config, len(ps))
	sts := make([]Stats, len(ps))
	for i, p := range ps {
		cs[i], sts[i] = p.c, p.st
	}
	return cs, sts
}

// Ranked is the configurations with a finished seed, best first: by the
// mean of their seeds' last three accuracies.
func (s *Sweep) Ranked() []*Config {
	cs, _ := s.ranked()
	return cs
}

// Markdown writes SWEEP.md's text: the configurations ranked by the mean
// of their last three accuracies, then each configuration's seeds.
func (s *Sweep) Markdown(w io.Writer) {
	cs, sts := s.ranked()
	runs, unfinished, unreadable := 0, 0, 0
	for _, c := range s.Configs {
		runs += len(c.Runs)
		unfinished += len(c.Unfinished)
		unreadable += len(c.Unreadable)
	}
	fmt.Fprintf(w, "# Sweep %s\n\n", filepath.Base(filepath.Clean(s.Dir)))
	bad := ""
	if unreadable > 0 {
		bad = fmt.Sprintf(", %d unreadable", unreadable)
	}
	fmt.Fprintf(w, "%d configurations, %d runs (%d finished, %d unfinished%s). Written %s.\n\n",
		len(s.Configs), runs, runs-unfinished-unreadable, unfinished, bad, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	if len(cs) > 0 {
		// Test and validation accuracies are of different images: each
		// set's configurations are ranked in a table of their own.
		sets := evaluationSets(sts)
		for k, on := range sets {
			if k > 0 {
				fmt.Fprintln(w)
			}
			apart := ""
			if len(sets) > 1 {
				apart = fmt.Sprintf(", among the configurations evaluated on the %s set (%s and %s accuracies are of different images, so they are ranked apart)", on, sets[0], sets[1])
			}
			fmt.Fprintf(w, "Ranked by the mean of the last three epochs' %s accuracy over the seeds%s.\n\n", on, apart)
			fmt.Fprintln(w, "| configuration | params | seeds | last 3 epochs % (mean ± sd) | lowest | best % (mean ± sd) | seeds holding the target | wall time (mean) |")
			fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
			for i, c := range cs {
				st := sts[i]
				if st.EvaluatedOn != on {
					continue
				}
				fmt.Fprintf(w, "| %s | %s | %d | %.2f ± %.2f | %.2f | %.2f ± %.2f | %d of %d (≥ %.2f%%) | %s |\n",
					c.Name, models.Thousands(st.Params), st.Seeds, st.LastMean, st.LastSD, st.Lowest, st.BestMean, st.BestSD,
					st.Held, st.Seeds, st.Target, minutes(st.WallMean))
			}
		}
		for i, c := range cs {
			if r := sts[i].Raw; r != nil {
				fmt.Fprintf(w, "\n%s evaluates averaged weights; its trained weights (the same runs without averaging): last 3 epochs %.2f ± %.2f, lowest %.2f, %d of %d seeds holding the target.\n",
					c.Name, r.LastMean, r.LastSD, r.Lowest, r.Held, sts[i].Seeds)
			}
		}
		fmt.Fprintf(w, "\nPlots: %s (accuracy per epoch, seeds as thin lines around their mean)", AccuracyPNG)
		if s.severalNets() {
			fmt.Fprintf(w, ", %s (final accuracy against parameter count)", ParamsPNG)
		}
		fmt.Fprintln(w, ".")
	}
	for _, c := range s.Configs {
		fmt.Fprintf(w, "\n## %s\n\n", c.Name)
		c.SeedTable(w)
	}
}

// SeedTable writes one configuration's per-seed table.
func (c *Config) SeedTable(w io.Writer) {
	st, ok := c.Stats()
	if ok {
		threads := fmt.Sprintf("%d threads", st.Threads)
		if st.Threads == 1 {
			threads = "1 thread"
		}
		fmt.Fprintf(w, "%s, %s parameters: %d seeds, %s accuracy (%s images), %s, %s\n\n",
			st.Arch, models.Thousands(st.Params), st.Seeds, st.EvaluatedOn, models.Thousands(int64(st.TestImages)), st.Device, threads)
		fmt.Fprintf(w, "| seed | best %s acc %% (epoch) | last 3 epochs %% | lowest of last 3 | all last 3 ≥ %.2f%% | wall time |\n", st.EvaluatedOn, st.Target)
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, r := range c.Finished {
			parts := make([]string, len(r.LastTestAccs))
			low := math.Inf(1)
			for i, a := range r.LastTestAccs {
				parts[i] = fmt.Sprintf("%.2f", a)
				low = math.Min(low, a)
			}
			verdict := "no"
			if r.Consistent {
				verdict = "yes"
			}
			fmt.Fprintf(w, "| %d | %.2f (%d) | %s | %.2f | %s | %s |\n", r.Seed, r.BestTestAcc, r.BestEpoch, strings.Join(parts, ", "), low, verdict, minutes(r.WallSeconds))
		}
		fmt.Fprintf(w, "| mean ± sd | %.2f ± %.2f | %.2f ± %.2f (all %d) | %.2f (lowest) | %d of %d | %s |\n",
			st.BestMean, st.BestSD, st.LastMean, st.LastSD, st.LastN, st.Lowest, st.Held, st.Seeds, minutes(st.WallMean))
		if st.Raw != nil {
			fmt.Fprintf(w, "\nThe trained weights, which the averaged ones are taken from (the same runs without averaging):\n\n")
			fmt.Fprintf(w, "| seed | last 3 epochs %% | lowest of last 3 | all last 3 ≥ %.2f%% |\n|---|---|---|---|\n", st.Target)
			for _, r := range c.Finished {
				accs := rawLast(r)
				parts := make([]string, len(accs))
				held := "yes"
				for i, a := range accs {
					parts[i] = fmt.Sprintf("%.2f", a)
					if a < r.Target {
						held = "no"
					}
				}
				fmt.Fprintf(w, "| %d | %s | %.2f | %s |\n", r.Seed, strings.Join(parts, ", "), slices.Min(accs), held)
			}
			fmt.Fprintf(w, "| mean ± sd | %.2f ± %.2f | %.2f (lowest) | %d of %d |\n", st.Raw.LastMean, st.Raw.LastSD, st.Raw.Lowest, st.Raw.Held, st.Seeds)
		}
		fmt.Fprintf(w, "\nrecipe: %s\n", st.Recipe)
	}
	if len(c.Unfinished) > 0 {
		if ok {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Unfinished: %s (running the sweep again resumes them).\n", strings.Join(c.Unfinished, ", "))
	}
	if len(c.Unreadable) > 0 {
		if ok || len(c.Unfinished) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Unreadable, not counted: %s (running the sweep again writes each summary anew from its run's checkpoint).\n", strings.Join(c.Unreadable, "; "))
	}
}

// evaluationSets lists the sets the configurations were evaluated on
// ("test", "validation"), in the order of the ranking.
func evaluationSets(sts []Stats) []string {
	var sets []string
	for _, st := range sts {
		if !slices.Contains(sets, st.EvaluatedOn) {
			sets = append(sets, st.EvaluatedOn)
		}
	}
	return sets
}

func minutes(s float64) string { return fmt.Sprintf("%.1f min", s/60) }

// CSV writes sweep.csv: one row per configuration with a finished seed,
// ranked as in SWEEP.md.
func (s *Sweep) CSV(w io.Writer) error {
	cs, sts := s.ranked()
	cw := csv.NewWriter(w)
	cw.Write([]string{"configuration", "arch", "params", "seeds", "evaluated_on", "last3_mean", "last3_sd", "last3_lowest",
		"best_mean", "best_sd", "target", "seeds_holding_target", "wall_seconds_mean", "wall_seconds_total", "threads", "device", "recipe",
		"raw_last3_mean", "raw_last3_sd", "raw_last3_lowest", "raw_seeds_holding_target"})
	for i, c := range cs {
		st := sts[i]
		f := func(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }
		row := []string{c.Name, st.Arch, strconv.FormatInt(st.Params, 10), strconv.Itoa(st.Seeds), st.EvaluatedOn,
			f(st.LastMean), f(st.LastSD), f(st.Lowest), f(st.BestMean), f(st.BestSD), f(st.Target), strconv.Itoa(st.Held),
			strconv.FormatFloat(st.WallMean, 'f', 1, 64), strconv.FormatFloat(st.WallTotal, 'f', 1, 64),
			strconv.Itoa(st.Threads), st.Device, st.Recipe}
		// The trained weights' figures, for runs that average them.
		raw := []string{"", "", "", ""}
		if r := st.Raw; r != nil {
			raw = []string{f(r.LastMean), f(r.LastSD), f(r.Lowest), strconv.Itoa(r.Held)}
		}
		cw.Write(append(row, raw...))
	}
	cw.Flush()
	return cw.Error()
}

// severalNets reports whether the finished runs are of more than one net.
func (s *Sweep) severalNets() bool {
	archs := map[string]bool{}
	for _, c := range s.Configs {
		if st, ok := c.Stats(); ok {
			archs[fmt.Sprintf("%s/%d", st.Arch, st.Params)] = true
		}
	}
	return len(archs) > 1
}

// Write writes SWEEP.md, sweep.csv and the plots into the sweep folder and
// returns the files written.
func (s *Sweep) Write() ([]string, error) {
	var md strings.Builder
	s.Markdown(&md)
	files := []string{MarkdownFile, CSVFile}
	if err := atomicfile.Write(filepath.Join(s.Dir, MarkdownFile), []byte(md.String())); err != nil {
		return nil, err
	}
	var c strings.Builder
	if err := s.CSV(&c); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(s.Dir, CSVFile), []byte(c.String())); err != nil {
		return nil, err
	}
	cs, _ := s.ranked()
	if len(cs) == 0 {
		return files, nil
	}
	if err := s.accuracyPlot(filepath.Join(s.Dir, AccuracyPNG)); err != nil {
		return files, fmt.Errorf("%s: %w", AccuracyPNG, err)
	}
	files = append(files, AccuracyPNG)
	if s.severalNets() {
		if err := s.paramsPlot(filepath.Join(s.Dir, ParamsPNG)); err != nil {
			return files, fmt.Errorf("%s: %w", ParamsPNG, err)
		}
		files = append(files, ParamsPNG)
	} else if err := os.Remove(filepath.Join(s.Dir, ParamsPNG)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return files, err
	}
	return files, nil
}
