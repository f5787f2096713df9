package search

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/internal/plotfile"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/sweep/report"
)

// The report's files, in the search folder.
const (
	MarkdownFile = "SEARCH.md"
	CSVFile      = "search.csv"
	FrontierPNG  = "frontier.png"
	RungsPNG     = "rungs.png"
)

// Report writes SEARCH.md, search.csv, frontier.png and rungs.png and
// returns their names.
func (s *Search) Report() ([]string, error) {
	var md strings.Builder
	if err := s.Markdown(&md); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(s.Dir, MarkdownFile), []byte(md.String())); err != nil {
		return nil, err
	}
	err := atomicfile.WriteFunc(filepath.Join(s.Dir, CSVFile), func(w io.Writer) error { return s.CSV(w) })
	if err != nil {
		return nil, err
	}
	files := []string{MarkdownFile, CSVFile}
	if len(s.scored()) == 0 {
		return files, nil
	}
	for _, p := range []struct {
		name string
		draw func() (*vgimg.Canvas, error)
	}{{FrontierPNG, s.frontier}, {RungsPNG, s.rungPlot}} {
		img, err := p.draw()
		if err == nil {
			err = atomicfile.WriteFunc(filepath.Join(s.Dir, p.name), plotfile.PNG(img))
		}
		if err != nil {
			return files, fmt.Errorf("%s: %w", p.name, err)
		}
		files = append(files, p.name)
	}
	return files, nil
}

// scored is the candidates that reached a rung, best first.
func (s *Search) scored() []*Candidate {
	var out []*Candidate
	for _, c := range s.Best() {
		if c.Reached >= 0 {
			out = append(out, c)
		}
	}
	return out
}

// Markdown writes SEARCH.md's text: the search, what it drew and spent,
// the candidates by the rung they reached, the survivors' per-seed tables,
// and how the rung's ranking by accuracy and by loss agreed with the top
// rung's.
func (s *Search) Markdown(w io.Writer) error {
	st, spec := s.State, s.Spec
	fmt.Fprintf(w, "# Search %s\n\n", filepath.Base(filepath.Clean(s.Dir)))
	budget := "no budget"
	if spec.Budget > 0 {
		budget = fmt.Sprintf("budget %s parameters", models.Thousands(spec.Budget))
	}
	fmt.Fprintf(w, "Around %s (%s parameters), %s, target %g%% on %s validation images (the test set unused); seeds %s; rungs at epochs %s (η = %d); ranked by the seeds' mean %s at each rung.\n\n",
		spec.base.Name, models.Thousands(spec.base.Params()), budget, spec.Target, models.Thousands(int64(spec.Holdout)), spec.Seeds,
		joinInts(s.rungs), spec.Eta, map[string]string{ScoreAcc: "validation accuracy", ScoreLoss: "validation loss"}[spec.Score])
	fmt.Fprintf(w, "Drawn %d times: %d candidates trained, %d over the budget (never trained), %d repeats of an earlier candidate, %d that no net can be",
		st.Draws, len(st.Candidates), st.OverBudget, st.Repeats, st.Invalid)
	if st.InvalidWhy != "" {
		fmt.Fprintf(w, " (the first: %s)", st.InvalidWhy)
	}
	fmt.Fprintln(w, ".")
	spent, full := s.EpochsTrained()
	if full > 0 {
		fmt.Fprintf(w, "\nCompute: %d epochs trained, against %d for every candidate on every seed to the end (%.0f%%).\n", spent, full, 100*float64(spent)/float64(full))
	}
	s.candidateTable(w)
	if err := s.survivors(w); err != nil {
		return err
	}
	s.agreement(w)
	fmt.Fprintf(w, "\nPlots: %s (validation accuracy against parameters, at the rung each candidate reached), %s (each candidate's score per rung).\n", FrontierPNG, RungsPNG)
	return nil
}

// candidateTable lists every candidate, best first within the rung it
// reached.
func (s *Search) candidateTable(w io.Writer) {
	fmt.Fprintf(w, "\n## Candidates by the rung they reached\n\n")
	fmt.Fprintf(w, "| candidate | params | reached | %s | what varies |\n|---|---|---|%s---|\n", s.rungHeader(), strings.Repeat("---|", len(s.rungs)))
	for _, c := range append(s.Best(), s.failedOrWaiting()...) {
		reached := "—"
		if c.Reached >= 0 {
			reached = fmt.Sprintf("epoch %d", s.rungs[c.Reached])
		}
		if why := s.State.Failed[c.ID]; why != "" {
			reached = "failed: " + why
		}
		var scores []string
		for k := range s.rungs {
			if k < len(c.Scores) && k <= c.Reached {
				scores = append(scores, fmt.Sprintf("%.2f (%.2f)", c.Scores[k].Acc, c.Scores[k].Lowest))
			} else {
				scores = append(scores, "")
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", c.ID, models.Thousands(c.Params), reached, strings.Join(scores, " | "), describe(s.sampler.dims, c.Values))
	}
}

// rungHeader is the table's columns of scores, one per rung.
func (s *Search) rungHeader() string {
	var cols []string
	for _, r := range s.rungs {
		cols = append(cols, fmt.Sprintf("epoch %d: mean (lowest) %%", r))
	}
	return strings.Join(cols, " | ")
}

// failedOrWaiting are the candidates Best leaves out: failed, or not yet
// at their first rung.
func (s *Search) failedOrWaiting() []*Candidate {
	var out []*Candidate
	for _, c := range s.State.Candidates {
		if c.Reached < 0 || s.State.Failed[c.ID] != "" {
			out = append(out, c)
		}
	}
	return out
}

// survivors writes the per-seed tables of the candidates that reached the
// top rung, in the sweep's format.
func (s *Search) survivors(w io.Writer) error {
	var top []string
	for _, c := range s.Best() {
		if c.Reached == s.Top() {
			top = append(top, c.ID)
		}
	}
	fmt.Fprintf(w, "\n## Survivors: the candidates that trained to the end\n\n")
	if len(top) == 0 {
		fmt.Fprintln(w, "None yet.")
		return nil
	}
	sw, err := report.Collect(s.Dir)
	if err != nil {
		return err
	}
	byName := map[string]*report.Config{}
	for _, c := range sw.Configs {
		byName[c.Name] = c
	}
	for _, id := range top {
		if c := byName[id]; c != nil {
			fmt.Fprintf(w, "### %s\n\n", id)
			c.SeedTable(w)
			fmt.Fprintln(w)
		}
	}
	return nil
}

// agreement says, for the candidates that reached the top rung, how well
// each lower rung's ranking by accuracy and by loss agreed with their
// ranking at the top (Spearman's ρ): which early score predicts the end.
func (s *Search) agreement(w io.Writer) {
	var top []*Candidate
	for _, c := range s.State.Candidates {
		if c.Reached == s.Top() {
			top = append(top, c)
		}
	}
	if len(top) < 3 || s.Top() == 0 {
		return
	}
	final := make([]float64, len(top))
	for i, c := range top {
		final[i] = c.Scores[s.Top()].Acc
	}
	fmt.Fprintf(w, "\n## Which early score predicts the end\n\nSpearman's ρ between each rung's ranking and the ranking by mean validation accuracy at epoch %d, over the %d candidates that trained to the end:\n\n", s.rungs[s.Top()], len(top))
	fmt.Fprintf(w, "| rung | by accuracy | by loss |\n|---|---|---|\n")
	for k := 0; k < s.Top(); k++ {
		acc, loss := make([]float64, len(top)), make([]float64, len(top))
		for i, c := range top {
			acc[i], loss[i] = c.Scores[k].Acc, -c.Scores[k].Loss
		}
		fmt.Fprintf(w, "| epoch %d | %.2f | %.2f |\n", s.rungs[k], Spearman(acc, final), Spearman(loss, final))
	}
}

// Spearman is the rank correlation of x and y (ties share their mean
// rank): 1 when they order alike, -1 when opposite.
func Spearman(x, y []float64) float64 {
	rx, ry := ranks(x), ranks(y)
	n := float64(len(x))
	var mx, my float64
	for i := range rx {
		mx += rx[i] / n
		my += ry[i] / n
	}
	var sxy, sxx, syy float64
	for i := range rx {
		sxy += (rx[i] - mx) * (ry[i] - my)
		sxx += (rx[i] - mx) * (rx[i] - mx)
		syy += (ry[i] - my) * (ry[i] - my)
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// ranks gives each value its rank (1 for the smallest), ties their mean.
func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}

// CSV writes search.csv: one row per candidate.
func (s *Search) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{"candidate", "params", "reached_epoch", "failed"}
	for _, r := range s.rungs {
		header = append(header, fmt.Sprintf("acc_epoch%d", r), fmt.Sprintf("lowest_epoch%d", r), fmt.Sprintf("loss_epoch%d", r))
	}
	header = append(header, "values")
	cw.Write(header)
	for _, c := range s.State.Candidates {
		reached := ""
		if c.Reached >= 0 {
			reached = strconv.Itoa(s.rungs[c.Reached])
		}
		row := []string{c.ID, strconv.FormatInt(c.Params, 10), reached, s.State.Failed[c.ID]}
		for k := range s.rungs {
			if k < len(c.Scores) && k <= c.Reached {
				row = append(row, fmt.Sprintf("%.4f", c.Scores[k].Acc), fmt.Sprintf("%.4f", c.Scores[k].Lowest), fmt.Sprintf("%.6f", c.Scores[k].Loss))
			} else {
				row = append(row, "", "", "")
			}
		}
		row = append(row, describe(s.sampler.dims, c.Values))
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

var (
	rungColors = []color.Color{
		color.RGBA{R: 160, G: 160, B: 160, A: 255}, // the first rung: grey
		color.RGBA{R: 31, G: 119, B: 180, A: 255},  // blue
		color.RGBA{R: 255, G: 127, B: 14, A: 255},  // orange
		color.RGBA{R: 214, G: 39, B: 40, A: 255},   // red
		color.RGBA{R: 148, G: 103, B: 189, A: 255}, // purple
	}
	lineColor = color.RGBA{R: 44, G: 160, B: 44, A: 255} // green: budget and target
)

func rungColor(k int) color.Color { return rungColors[min(k, len(rungColors)-1)] }

// frontier draws each candidate's mean validation accuracy at the rung it
// reached against its parameters, by rung, with the budget and the target.
func (s *Search) frontier() (*vgimg.Canvas, error) {
	p := plotfile.New("Candidates: validation accuracy at the rung reached", "parameters", "mean validation accuracy (%)")
	lo, hi, maxP := 100.0, 0.0, 0.0
	for k := range s.rungs {
		var xy plotter.XYs
		for _, c := range s.scored() {
			if c.Reached == k {
				sc := c.Scores[k]
				xy = append(xy, plotter.XY{X: float64(c.Params), Y: sc.Acc})
				lo, hi, maxP = math.Min(lo, sc.Acc), math.Max(hi, sc.Acc), math.Max(maxP, float64(c.Params))
			}
		}
		if len(xy) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, err
		}
		sc.Color, sc.Shape, sc.Radius = rungColor(k), draw.CircleGlyph{}, vg.Points(2.5+float64(k))
		p.Add(sc)
		p.Legend.Add(fmt.Sprintf("stopped at epoch %d", s.rungs[k]), sc)
	}
	lo, hi = math.Min(lo, s.Spec.Target), math.Max(hi, s.Spec.Target)
	if s.Spec.Budget > 0 {
		maxP = math.Max(maxP, float64(s.Spec.Budget))
		budget, err := plotter.NewLine(plotter.XYs{{X: float64(s.Spec.Budget), Y: lo - 0.1}, {X: float64(s.Spec.Budget), Y: hi + 0.1}})
		if err != nil {
			return nil, err
		}
		plotfile.Dashed(budget, lineColor, 2, 2)
		p.Add(budget)
		p.Legend.Add(fmt.Sprintf("budget %s", models.Thousands(s.Spec.Budget)), budget)
	}
	target, err := plotter.NewLine(plotter.XYs{{X: 0, Y: s.Spec.Target}, {X: maxP * 1.05, Y: s.Spec.Target}})
	if err != nil {
		return nil, err
	}
	plotfile.Dashed(target, lineColor, 6, 3)
	p.Add(target)
	p.Legend.Add(fmt.Sprintf("target %g%%", s.Spec.Target), target)
	p.Legend.Left, p.Legend.Top = true, false
	p.X.Min, p.X.Max = 0, maxP*1.05
	p.Y.Min, p.Y.Max = math.Max(0, lo-0.1), math.Min(100, hi+0.1)
	img := plotfile.Draw(p, 620, 420)
	return img, nil
}

// rungPlot draws each candidate's mean validation accuracy at each rung it
// reached: promoted candidates in colour, the others grey, the target
// dashed. The axis is spaced by the error rate on a log scale, so the first
// rung's 95-98% and the last rung's 99.5% both stand apart; its labels are
// accuracies.
func (s *Search) rungPlot() (*vgimg.Canvas, error) {
	p := plotfile.New("Candidates by rung (promoted in colour)", "epoch", "mean validation accuracy (%), spaced by error (log)")
	top := s.rungs[len(s.rungs)-1]
	p.X.Tick.Marker = plotfile.EpochTicks(top, 15)
	lo, hi := s.Spec.Target, s.Spec.Target
	for _, c := range s.scored() {
		var xy plotter.XYs
		for k := 0; k <= c.Reached; k++ {
			acc := c.Scores[k].Acc
			xy = append(xy, plotter.XY{X: float64(s.rungs[k]), Y: errorOf(acc)})
			lo, hi = math.Min(lo, acc), math.Max(hi, acc)
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color, l.Width = rungColor(c.Reached), rungColor(c.Reached), vg.Points(1)
		pts.Shape, pts.Radius = draw.CircleGlyph{}, vg.Points(2)
		p.Add(l, pts)
	}
	target, err := plotter.NewLine(plotter.XYs{{X: 0.5, Y: errorOf(s.Spec.Target)}, {X: float64(top) + 0.5, Y: errorOf(s.Spec.Target)}})
	if err != nil {
		return nil, err
	}
	plotfile.Dashed(target, color.RGBA{G: 160, A: 255}, 4, 3)
	p.Add(target)
	p.Legend.Add(fmt.Sprintf("target %g%%", s.Spec.Target), target)
	p.X.Min, p.X.Max = 0.5, float64(top)+0.5
	p.Y.Min, p.Y.Max = errorOf(hi)/1.15, errorOf(lo)*1.15
	p.Y.Scale = plot.InvertedScale{Normalizer: plot.LogScale{}}
	p.Y.Tick.Marker = accuracyTicks{}
	img := plotfile.Draw(p, 620, 420)
	return img, nil
}

// errorOf is the error rate (%) of an accuracy (%), never below 0.01 so
// that a perfect score stays on a log axis.
func errorOf(acc float64) float64 { return math.Max(100-acc, 0.01) }

// accuracyTicks labels an error-rate axis with accuracies, at the round
// error rates within its range.
type accuracyTicks struct{}

func (accuracyTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for _, decade := range []float64{0.01, 0.1, 1, 10} {
		for _, m := range []float64{1, 2, 3, 4, 5} {
			e := decade * m
			if e < min || e > max {
				continue
			}
			label := strconv.FormatFloat(100-e, 'f', -1, 64)
			ticks = append(ticks, plot.Tick{Value: e, Label: label})
		}
	}
	return ticks
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ", ")
}
