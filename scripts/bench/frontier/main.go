// Command frontier sets the searches of several parameter budgets side by
// side: for each search folder, the best candidate the search found (the
// one that reached the highest rung, best scored there) with its mean and
// lowest validation accuracy over the search's seeds, and, where the
// folder holds its final step (final/validation, final/test: a search run
// with -final), that candidate's figures on the fresh seeds: the mean of
// the last three epochs ± the standard deviation over seeds and the seeds
// holding the target. It prints a Markdown table and draws the frontier
// (accuracy against the budget) into -out.
//
//	go run ./scripts/bench/frontier -out frontier.png runs/search-frontier-2k runs/search-under-4k ...
//
// A search folder is what `sweep -search` writes, or its report copied
// without the run folders (searches/results/NAME: search.json is enough);
// its final step is read only from a search folder that holds it.
package main

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/pflag"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/internal/plotfile"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/sweep/report"
	"github.com/tinydigits/tinydigits/sweep/search"
)

func main() {
	fs := pflag.NewFlagSet("frontier", pflag.ContinueOnError)
	out := fs.String("out", "frontier.png", "the picture to write")
	if err := fs.Parse(command.LongDashes(os.Args[1:], fs)); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: frontier [-out PNG] SEARCH_DIR...")
		os.Exit(command.ExitUsage)
	}
	if err := run(os.Stdout, fs.Args(), *out); err != nil {
		fmt.Fprintln(os.Stderr, "frontier:", command.OneLine(err))
		if errors.Is(err, errFolder) {
			os.Exit(command.ExitUsage)
		}
		os.Exit(command.ExitFailure)
	}
}

// point is one search's best candidate.
type point struct {
	name           string
	budget, params int64
	target         float64
	epoch, seeds   int     // the rung it reached, over how many seeds
	acc, lowest    float64 // the search's figures at that rung
	final          map[string]*report.Stats
	finalMD        bool // the folder has a FINAL.md
}

// errFolder marks a folder that is not a readable search: bad input.
var errFolder = errors.New("not a search folder")

func run(w io.Writer, dirs []string, out string) error {
	var pts []*point
	for _, dir := range dirs {
		p, err := best(dir)
		if err != nil {
			return fmt.Errorf("%w: %w", errFolder, err)
		}
		pts = append(pts, p)
	}
	sort.SliceStable(pts, func(a, b int) bool { return pts[a].budget < pts[b].budget })
	fmt.Fprintln(w, "| search | budget | best candidate's params | search: mean (lowest) % at its rung | fresh validation seeds: last 3 % (mean ± sd), holding | test seeds: last 3 % (mean ± sd), holding |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, p := range pts {
		fmt.Fprintf(w, "| %s | %s | %s | %.2f (%.2f), epoch %d, %d seeds | %s | %s |\n", p.name, models.Thousands(p.budget), models.Thousands(p.params),
			p.acc, p.lowest, p.epoch, p.seeds, p.cell("validation"), p.cell("test"))
	}
	img, err := frontierPlot(pts)
	if err != nil {
		return err
	}
	return atomicfile.WriteFunc(out, plotfile.PNG(img))
}

// cell is the final step's figures of a stage: where the folder keeps
// its runs, or where only its FINAL.md says them, or that it did not run.
func (p *point) cell(stage string) string {
	st := p.final[stage]
	switch {
	case st != nil:
		return fmt.Sprintf("%.2f ± %.2f, %d of %d", st.LastMean, st.LastSD, st.Held, st.Seeds)
	case p.finalMD:
		return "in its FINAL.md (runs not kept)"
	}
	return "not run"
}

// best is the search's best candidate, with its final figures where the
// folder holds them.
func best(dir string) (*point, error) {
	s, err := search.OpenFolder(dir)
	if err != nil {
		return nil, err
	}
	ranked := s.Best()
	if len(ranked) == 0 {
		return nil, fmt.Errorf("%s: no candidate has a score yet", dir)
	}
	final := map[string]*report.Sweep{}
	for _, stage := range []string{"validation", "test"} {
		sw, err := report.Collect(filepath.Join(dir, "final", stage))
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return nil, err
		}
		final[stage] = sw
	}
	// The final step's pick (its best on the fresh validation seeds) where
	// it ran, else the search's.
	c := ranked[0]
	if sw := final["validation"]; sw != nil && len(sw.Ranked()) > 0 {
		for _, x := range ranked {
			if x.ID == sw.Ranked()[0].Name {
				c = x
			}
		}
	}
	seeds, err := s.Spec.SeedList()
	if err != nil {
		return nil, err
	}
	sc := c.Scores[c.Reached]
	p := &point{name: filepath.Base(dir), budget: s.Spec.Budget, params: c.Params, target: s.Spec.Target,
		epoch: sc.Epoch, seeds: len(seeds), acc: sc.Acc, lowest: sc.Lowest, final: map[string]*report.Stats{}}
	if _, err := os.Stat(filepath.Join(dir, "FINAL.md")); err == nil {
		p.finalMD = true
	}
	for stage, sw := range final {
		for _, cfg := range sw.Configs {
			if st, ok := cfg.Stats(); ok && cfg.Name == c.ID {
				p.final[stage] = &st
			}
		}
	}
	return p, nil
}

// frontierPlot draws each search's best against its budget: the search's mean
// and lowest seed, and the fresh validation seeds' mean ± sd where run.
func frontierPlot(pts []*point) (*vgimg.Canvas, error) {
	p := plotfile.New("Best net found at each parameter budget", "parameter budget", "validation accuracy (%)")
	var mean, low, fin plotter.XYs
	var bars plotter.YErrors
	target, lo, hi := 0.0, 100.0, 0.0
	for _, q := range pts {
		x := float64(q.budget)
		mean = append(mean, plotter.XY{X: x, Y: q.acc})
		low = append(low, plotter.XY{X: x, Y: q.lowest})
		lo, hi, target = math.Min(lo, q.lowest), math.Max(hi, q.acc), q.target
		if st := q.final["validation"]; st != nil {
			fin = append(fin, plotter.XY{X: x * 1.02, Y: st.LastMean})
			bars = append(bars, struct{ Low, High float64 }{st.LastSD, st.LastSD})
			lo, hi = math.Min(lo, st.LastMean-st.LastSD), math.Max(hi, st.LastMean+st.LastSD)
		}
	}
	line, dots, err := plotter.NewLinePoints(mean)
	if err != nil {
		return nil, err
	}
	dots.Shape, dots.Color, line.Color = draw.CircleGlyph{}, color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 31, G: 119, B: 180, A: 255}
	p.Add(line, dots)
	p.Legend.Add("search: best candidate's mean over its seeds", line, dots)
	lows, err := plotter.NewScatter(low)
	if err != nil {
		return nil, err
	}
	lows.Shape, lows.Color = draw.PlusGlyph{}, color.RGBA{R: 31, G: 119, B: 180, A: 255}
	p.Add(lows)
	p.Legend.Add("search: its lowest seed", lows)
	if len(fin) > 0 {
		fs, err := plotter.NewScatter(fin)
		if err != nil {
			return nil, err
		}
		fs.Shape, fs.Color = draw.BoxGlyph{}, color.RGBA{R: 214, G: 39, B: 40, A: 255}
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{fin, bars})
		if err != nil {
			return nil, err
		}
		eb.Color = fs.Color
		p.Add(fs, eb)
		p.Legend.Add("final: fresh validation seeds, mean ± sd", fs)
	}
	lo, hi = math.Min(lo, target), math.Max(hi, target)
	tl, err := plotter.NewLine(plotter.XYs{{X: 0, Y: target}, {X: float64(pts[len(pts)-1].budget) * 1.1, Y: target}})
	if err != nil {
		return nil, err
	}
	plotfile.Dashed(tl, color.Gray{Y: 90}, 6, 3)
	p.Add(tl)
	p.Legend.Add(fmt.Sprintf("target %g%%", target), tl)
	p.Legend.Left, p.Legend.Top = false, false
	p.X.Min, p.X.Max = 0, float64(pts[len(pts)-1].budget)*1.1
	p.Y.Min, p.Y.Max = lo-0.1, math.Min(100, hi+0.1)
	p.X.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick {
		var ts []plot.Tick
		for _, q := range pts {
			ts = append(ts, plot.Tick{Value: float64(q.budget), Label: models.Thousands(q.budget)})
		}
		return ts
	})
	img := plotfile.Draw(p, 620, 420)
	return img, nil
}
