// Command searchgrid sets a search beside the full grid of the same
// candidates (every candidate on every seed to the end, as a sweep of the
// search's candidate arch files trains them) and prints, in Markdown:
// the epochs each spent, where the search's best candidate stands in the
// grid's ranking and how far its final validation score is from the
// grid's best, in standard deviations over seeds; and how well each
// rung's ranking, by validation accuracy and by validation loss, agrees
// with the grid's final ranking (Spearman's ρ over every candidate).
//
//	go run ./scripts/bench/searchgrid runs/search-side-by-side runs/grid-side-by-side
//
// The final score is the sweep's: the mean over seeds of each seed's last
// three validation accuracies.
package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/report"
	"github.com/tinydigits/tinydigits/sweep/search"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: searchgrid SEARCH_DIR GRID_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "searchgrid:", err)
		os.Exit(1)
	}
}

// candidate is one grid configuration's figures.
type candidate struct {
	id        string
	perSeed   []float64 // each seed's mean of its last three accuracies
	final, sd float64   // their mean and sample standard deviation
	acc, loss []float64 // by rung: the seeds' mean validation accuracy and loss
}

func run(searchDir, gridDir string) error {
	s, err := search.OpenFolder(searchDir)
	if err != nil {
		return err
	}
	sw, err := report.Collect(gridDir)
	if err != nil {
		return err
	}
	rungs := s.Rungs()
	var cands []*candidate
	gridEpochs := 0
	for _, c := range sw.Configs {
		if len(c.Unfinished)+len(c.Unreadable) > 0 || len(c.Finished) == 0 {
			return fmt.Errorf("%s: %s is not finished", gridDir, c.Name)
		}
		x := &candidate{id: c.Name, acc: make([]float64, len(rungs)), loss: make([]float64, len(rungs))}
		for _, r := range c.Finished {
			gridEpochs += len(r.Epochs)
			x.perSeed = append(x.perSeed, lastMean(r.Epochs))
			for k, e := range rungs {
				if e > len(r.Epochs) {
					return fmt.Errorf("%s seed %d: %d epochs, the rungs go to %d", c.Name, r.Seed, len(r.Epochs), e)
				}
				x.acc[k] += r.Epochs[e-1].TestAcc / float64(len(c.Finished))
				x.loss[k] += r.Epochs[e-1].TestLoss / float64(len(c.Finished))
			}
		}
		x.final, x.sd = meanSD(x.perSeed)
		cands = append(cands, x)
	}
	if len(cands) < 3 {
		return errors.New("the grid has fewer than 3 candidates")
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].final > cands[b].final })
	best := s.Best()
	if len(best) == 0 {
		return errors.New("the search has no scored candidate")
	}
	pick := best[0]
	place := -1
	for i, c := range cands {
		if c.id == pick.ID {
			place = i
		}
	}
	if place < 0 {
		return fmt.Errorf("the search's best candidate %s is not in the grid", pick.ID)
	}
	same, compared, err := sameRuns(s, gridDir)
	if err != nil {
		return err
	}
	spent, full := s.EpochsTrained()
	g, p := cands[0], cands[place]
	fmt.Printf("| | epochs trained | best candidate | its final score (mean of last three, over %d seeds) |\n|---|---|---|---|\n", len(g.perSeed))
	fmt.Printf("| full grid (%d candidates) | %d | %s | %.3f%% ± %.3f |\n", len(cands), gridEpochs, g.id, g.final, g.sd)
	fmt.Printf("| search | %d (%.0f%% of the grid's; the search counts %d for its grid) | %s (the grid's %d of %d) | %.3f%% ± %.3f |\n\n",
		spent, 100*float64(spent)/float64(gridEpochs), full, p.id, place+1, len(cands), p.final, p.sd)
	within := "within"
	if g.final-p.final > g.sd {
		within = "not within"
	}
	fmt.Printf("The search's pick is %.3f points below the grid's best: %s one standard deviation over seeds of the grid's best (%.3f).\n\n", g.final-p.final, within, g.sd)
	fmt.Printf("The search's runs that trained to the end (stopped at the rungs and continued) equal the grid's straight runs of the same candidate and seed, epoch by epoch: %d of %d.\n\n", same, compared)
	fmt.Printf("Spearman's ρ between each rung's ranking and the final ranking, over the grid's %d candidates:\n\n| rung | by accuracy | by loss |\n|---|---|---|\n", len(cands))
	final := make([]float64, len(cands))
	for i, c := range cands {
		final[i] = c.final
	}
	for k, e := range rungs {
		acc, loss := make([]float64, len(cands)), make([]float64, len(cands))
		for i, c := range cands {
			acc[i], loss[i] = c.acc[k], -c.loss[k]
		}
		fmt.Printf("| epoch %d | %.2f | %.2f |\n", e, search.Spearman(acc, final), search.Spearman(loss, final))
	}
	return nil
}

// sameRuns compares, for every run of the search that trained to the end,
// its validation losses and accuracies epoch by epoch with the grid's run
// of the same candidate and seed.
func sameRuns(s *search.Search, gridDir string) (same, compared int, err error) {
	seeds, err := s.Spec.SeedList()
	if err != nil {
		return 0, 0, err
	}
	for _, c := range s.State.Candidates {
		if c.Reached != s.Top() {
			continue
		}
		for _, seed := range seeds {
			dir := filepath.Join(c.ID, fmt.Sprintf("seed%d", seed))
			a, err := runfolder.ReadMetrics(filepath.Join(s.Dir, dir))
			if err != nil {
				return 0, 0, err
			}
			b, err := runfolder.ReadMetrics(filepath.Join(gridDir, dir))
			if err != nil {
				return 0, 0, err
			}
			compared++
			if slices.EqualFunc(a, b, func(x, y runfolder.EpochMetrics) bool {
				return x.TestLoss == y.TestLoss && x.TestAcc == y.TestAcc && x.TrainLoss == y.TrainLoss
			}) {
				same++
			}
		}
	}
	return same, compared, nil
}

// lastMean is the mean accuracy of a run's last three epochs.
func lastMean(epochs []runfolder.EpochMetrics) float64 {
	tail := epochs[max(0, len(epochs)-runfolder.LastEpochs):]
	sum := 0.0
	for _, m := range tail {
		sum += m.TestAcc
	}
	return sum / float64(len(tail))
}

// meanSD is the mean and sample standard deviation of v.
func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x / float64(len(v))
	}
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}
