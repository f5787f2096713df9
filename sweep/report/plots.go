package report

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/internal/plotfile"
	"github.com/tinydigits/tinydigits/models"
)

var (
	meanColor   = color.RGBA{R: 31, G: 119, B: 180, A: 255}  // blue
	seedColor   = color.NRGBA{R: 31, G: 119, B: 180, A: 110} // the same, faint
	targetColor = color.RGBA{R: 44, G: 160, B: 44, A: 255}   // green
	pointColor  = color.RGBA{R: 255, G: 127, B: 14, A: 255}  // orange
	seedDot     = color.RGBA{R: 120, G: 120, B: 120, A: 200} // grey
)

// accuracyPlot draws one panel per configuration (ranked as in SWEEP.md):
// each seed's accuracy per epoch as a thin line, their mean as a thick one,
// and the target dashed, on one shared accuracy axis that starts a little
// below the lowest accuracy after the first epoch.
func (s *Sweep) accuracyPlot(path string) error {
	cs, sts := s.ranked()
	lo, hi, maxEpochs := accuracyRange(cs, sts)
	cols := min(3, len(cs))
	rows := (len(cs) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, c := range cs {
		p, err := accuracyPanel(c, sts[i], maxEpochs)
		if err != nil {
			return err
		}
		p.Y.Min, p.Y.Max = lo, hi
		plots[i/cols][i%cols] = p
	}
	pw, ph := 330.0, 250.0
	if len(cs) == 1 {
		pw, ph = 560, 380
	}
	w, h := vg.Points(float64(cols)*pw), vg.Points(float64(rows)*ph)
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6),
		PadRight: vg.Points(12), PadX: vg.Points(14), PadY: vg.Points(14)}
	canvases := plot.Align(plots, tiles, dc)
	for r := range plots {
		for c := range plots[r] {
			if plots[r][c] != nil {
				plots[r][c].Draw(canvases[r][c])
			}
		}
	}
	return atomicfile.WriteFunc(path, plotfile.PNG(img))
}

// accuracyRange is the accuracy axis every panel shares, from the lowest
// accuracy after each run's first epoch (and the targets) to the highest,
// and the most epochs of any run.
func accuracyRange(cs []*Config, sts []Stats) (lo, hi float64, maxEpochs int) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for i, c := range cs {
		lo = math.Min(lo, sts[i].Target)
		for _, r := range c.Finished {
			maxEpochs = max(maxEpochs, len(r.Epochs))
			for j, m := range r.Epochs {
				if j > 0 || len(r.Epochs) == 1 {
					lo = math.Min(lo, m.TestAcc)
				}
				hi = math.Max(hi, m.TestAcc)
			}
		}
	}
	return math.Max(0, math.Floor(lo*10-1)/10), math.Min(100, math.Ceil(hi*10+1)/10), maxEpochs
}

// accuracyPanel is one configuration's panel: each seed's accuracy per
// epoch as a thin line, their mean, the target dashed.
func accuracyPanel(c *Config, st Stats, maxEpochs int) (*plot.Plot, error) {
	p := plotfile.New(fmt.Sprintf("%s (%s params)", c.Name, models.Thousands(st.Params)), "epoch", st.EvaluatedOn+" accuracy (%)")
	p.Title.TextStyle.Font.Size = vg.Points(9)
	p.X.Tick.Marker = plotfile.EpochTicks(maxEpochs, 10)
	for _, r := range c.Finished {
		xy := make(plotter.XYs, len(r.Epochs))
		for j, m := range r.Epochs {
			xy[j] = plotter.XY{X: float64(m.Epoch), Y: m.TestAcc}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = seedColor, vg.Points(0.7)
		p.Add(l)
	}
	ml, mp, err := plotter.NewLinePoints(meanCurve(c))
	if err != nil {
		return nil, err
	}
	ml.Color, ml.Width = meanColor, vg.Points(2)
	mp.Color, mp.Shape, mp.Radius = meanColor, draw.CircleGlyph{}, vg.Points(1.8)
	p.Add(ml, mp)
	goal, err := plotter.NewLine(plotter.XYs{{X: 0.5, Y: st.Target}, {X: float64(maxEpochs) + 0.5, Y: st.Target}})
	if err != nil {
		return nil, err
	}
	plotfile.Dashed(goal, targetColor, 5, 3)
	p.Add(goal)
	p.Legend.Add(fmt.Sprintf("mean of %d seeds", len(c.Finished)), ml, mp)
	p.Legend.Add(fmt.Sprintf("target %g%%", st.Target), goal)
	p.Legend.Left, p.Legend.Top = false, false
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	// After the lines: adding them widens the axes to their data.
	p.X.Min, p.X.Max = 0.5, float64(maxEpochs)+0.5
	return p, nil
}

// meanCurve is the mean accuracy per epoch over the seeds that reached it.
func meanCurve(c *Config) plotter.XYs {
	var sum []float64
	var n []int
	for _, r := range c.Finished {
		for j, m := range r.Epochs {
			if j >= len(sum) {
				sum, n = append(sum, 0), append(n, 0)
			}
			sum[j] += m.TestAcc
			n[j]++
		}
	}
	xy := make(plotter.XYs, len(sum))
	for j := range sum {
		xy[j] = plotter.XY{X: float64(j + 1), Y: sum[j] / float64(n[j])}
	}
	return xy
}

// paramsPlot draws each configuration's mean of the last three accuracies
// (with ± one standard deviation) against its parameter count, each seed's
// own mean as a grey dot, and the target.
func (s *Sweep) paramsPlot(path string) error {
	cs, sts := s.ranked()
	p := plotfile.New("Last three epochs' accuracy against parameters", "parameters", strings.Join(evaluationSets(sts), " or ")+" accuracy (%), last 3 epochs")
	var means plotter.XYs
	var errs plotter.YErrors
	var dots plotter.XYs
	var labels []string
	xlo, xhi := math.Inf(1), math.Inf(-1)
	for i, c := range cs {
		x := float64(sts[i].Params)
		xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
		means = append(means, plotter.XY{X: x, Y: sts[i].LastMean})
		errs = append(errs, struct{ Low, High float64 }{sts[i].LastSD, sts[i].LastSD})
		labels = append(labels, " "+c.Name)
		for _, r := range c.Finished {
			m, _ := MeanSD(r.LastTestAccs)
			dots = append(dots, plotter.XY{X: x, Y: m})
		}
	}
	seedsPlot, err := plotter.NewScatter(dots)
	if err != nil {
		return err
	}
	seedsPlot.Color, seedsPlot.Shape, seedsPlot.Radius = seedDot, draw.CircleGlyph{}, vg.Points(2)
	p.Add(seedsPlot)
	bars := &struct {
		plotter.XYs
		plotter.YErrors
	}{means, errs}
	eb, err := plotter.NewYErrorBars(bars)
	if err != nil {
		return err
	}
	eb.Color = pointColor
	pts, err := plotter.NewScatter(means)
	if err != nil {
		return err
	}
	pts.Color, pts.Shape, pts.Radius = pointColor, draw.CircleGlyph{}, vg.Points(3.5)
	p.Add(eb, pts)
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: spreadLabels(means, sts), Labels: labels})
	if err != nil {
		return err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].Font.Size = vg.Points(8)
	}
	p.Add(lab)
	pad := math.Max((xhi-xlo)*0.08, 100)
	xmin, xmax := math.Max(0, xlo-pad), xhi+pad*3
	if xhi > 5*xlo { // nets of very different sizes: a log axis
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		xmin, xmax = xlo/1.3, xhi*1.8
	}
	goal, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: sts[0].Target}, {X: xmax, Y: sts[0].Target}})
	if err != nil {
		return err
	}
	plotfile.Dashed(goal, targetColor, 5, 3)
	p.Add(goal)
	p.Legend.Add("configuration: mean ± sd", pts)
	p.Legend.Add("one seed's mean", seedsPlot)
	p.Legend.Add(fmt.Sprintf("target %g%%", sts[0].Target), goal)
	p.Legend.Left, p.Legend.Top = true, false
	p.X.Min, p.X.Max = xmin, xmax // after the adds, which widen the axes
	img := plotfile.Draw(p, 640, 420)
	return atomicfile.WriteFunc(path, plotfile.PNG(img))
}

// spreadLabels places the labels of configurations with the same
// parameter count apart: each at least a twentieth of the accuracy range
// above the one below it.
func spreadLabels(means plotter.XYs, sts []Stats) plotter.XYs {
	out := make(plotter.XYs, len(means))
	copy(out, means)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, m := range means {
		lo, hi = math.Min(lo, m.Y-sts[i].LastSD), math.Max(hi, m.Y+sts[i].LastSD)
	}
	gap := math.Max((hi-lo)/20, 0.005)
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		if out[idx[a]].X != out[idx[b]].X {
			return out[idx[a]].X < out[idx[b]].X
		}
		return out[idx[a]].Y < out[idx[b]].Y
	})
	for k := 1; k < len(idx); k++ {
		prev, cur := &out[idx[k-1]], &out[idx[k]]
		if cur.X == prev.X && cur.Y < prev.Y+gap {
			cur.Y = prev.Y + gap
		}
	}
	return out
}
