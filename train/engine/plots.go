package engine

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/internal/plotfile"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/transforms"
)

// writePictures draws curves.png from the metrics and, when there are test
// predictions, confusion.png and misclassified.png, into the run folder.
func writePictures(cfg Config, rows []runfolder.EpochMetrics, last *evalDetail, test *mnist.Set) error {
	evalName := runfolder.EvalTest
	if cfg.Holdout > 0 {
		evalName = runfolder.EvalValidation
	}
	pictures := []struct {
		name string
		draw func() (*vgimg.Canvas, error)
	}{
		{runfolder.CurvesFile, func() (*vgimg.Canvas, error) { return curves(rows, cfg.Target, evalName, scheduleTitle(cfg)) }},
		{runfolder.ConfusionFile, func() (*vgimg.Canvas, error) { return confusionPicture(last, evalName) }},
		{runfolder.WrongFile, func() (*vgimg.Canvas, error) { return misclassified(last, test) }},
	}
	for i, p := range pictures {
		if i > 0 && last == nil {
			break
		}
		img, err := p.draw()
		if err == nil {
			err = runfolder.WritePicture(cfg.Out, p.name, plotfile.PNG(img))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

var (
	trainColor  = color.RGBA{R: 31, G: 119, B: 180, A: 255} // blue
	testColor   = color.RGBA{R: 255, G: 127, B: 14, A: 255} // orange
	targetColor = color.RGBA{R: 44, G: 160, B: 44, A: 255}  // green
)

// series draws one metric per epoch as a line with points.
func series(p *plot.Plot, name string, c color.Color, n int, y func(i int) float64) error {
	xy := make(plotter.XYs, n)
	for i := range xy {
		xy[i].X, xy[i].Y = float64(i+1), y(i)
	}
	line, points, err := plotter.NewLinePoints(xy)
	if err != nil {
		return err
	}
	line.Color, points.Color = c, c
	line.Width = vg.Points(1.5)
	points.Shape = draw.CircleGlyph{}
	points.Radius = vg.Points(2)
	p.Add(line, points)
	p.Legend.Add(name, line, points)
	return nil
}

// scheduleTitle names the run's lr schedule for the lr panel.
func scheduleTitle(cfg Config) string {
	switch cfg.schedule() {
	case models.ScheduleStep:
		return fmt.Sprintf("StepLR, step %d, gamma %g", cfg.StepSize, cfg.Gamma)
	case models.ScheduleOneCycle:
		return "OneCycle, stepped every batch; shown at each epoch's start"
	}
	return models.ScheduleConstant
}

// curves draws loss, accuracy (with the target) and the learning rate per
// epoch, one panel above the other; evalName labels the evaluated set
// ("test" or "validation").
func curves(rows []runfolder.EpochMetrics, target float64, evalName, schedule string) (*vgimg.Canvas, error) {
	n := len(rows)
	loss := plot.New()
	loss.Title.Text = "Loss (NLL)"
	accuracy := plot.New()
	accuracy.Title.Text = "Accuracy (%)"
	lr := plot.New()
	lr.Title.Text = "Learning rate (" + schedule + ")"
	lr.X.Label.Text = "epoch"
	for _, p := range []*plot.Plot{loss, accuracy, lr} {
		p.X.Min, p.X.Max = 0.5, float64(n)+0.5
		p.X.Tick.Marker = plotfile.EpochTicks(n, 20)
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
	}
	if err := series(loss, "train", trainColor, n, func(i int) float64 { return rows[i].TrainLoss }); err != nil {
		return nil, err
	}
	if err := series(loss, evalName, testColor, n, func(i int) float64 { return rows[i].TestLoss }); err != nil {
		return nil, err
	}
	if err := series(accuracy, "train", trainColor, n, func(i int) float64 { return rows[i].TrainAcc }); err != nil {
		return nil, err
	}
	if err := series(accuracy, evalName, testColor, n, func(i int) float64 { return rows[i].TestAcc }); err != nil {
		return nil, err
	}
	// Show the later epochs' detail: the axis starts a little below the
	// lowest accuracy after epoch 1.
	low := target
	for i, r := range rows {
		if i > 0 || n == 1 {
			low = math.Min(low, math.Min(r.TrainAcc, r.TestAcc))
		}
	}
	accuracy.Y.Min = math.Max(0, math.Floor(low*2-1)/2)
	accuracy.Y.Max = 100
	accuracy.Legend.Top = false // accuracy climbs to the top right
	goal, err := plotter.NewLine(plotter.XYs{{X: 0.5, Y: target}, {X: float64(n) + 0.5, Y: target}})
	if err != nil {
		return nil, err
	}
	plotfile.Dashed(goal, targetColor, 5, 3)
	accuracy.Add(goal)
	accuracy.Legend.Add(fmt.Sprintf("target %g%%", target), goal)

	steps := make(plotter.XYs, 0, 2*n)
	for i, r := range rows {
		steps = append(steps, plotter.XY{X: float64(i) + 0.5, Y: r.LR}, plotter.XY{X: float64(i) + 1.5, Y: r.LR})
	}
	lrLine, err := plotter.NewLine(steps)
	if err != nil {
		return nil, err
	}
	lrLine.Color = trainColor
	lr.Add(lrLine)
	lr.Y.Scale = plot.LogScale{}
	lr.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	lo, hi := math.Inf(1), 0.0
	for _, r := range rows {
		lo, hi = math.Min(lo, r.LR), math.Max(hi, r.LR)
	}
	lr.Y.Min, lr.Y.Max = lo/2, hi*2

	img := vgimg.New(vg.Points(640), vg.Points(800))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 3, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(14)}
	plots := [][]*plot.Plot{{loss}, {accuracy}, {lr}}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return img, nil
}

// confusionGrid adapts a confusion matrix to plotter.GridXYZ: column c is
// the predicted class, row r the true class counted from the bottom, and Z
// is log(1 + count) so that a handful of errors shows beside ~1,000 hits.
type confusionGrid [mnist.Classes][mnist.Classes]int

func (g *confusionGrid) Dims() (int, int)   { return mnist.Classes, mnist.Classes }
func (g *confusionGrid) Z(c, r int) float64 { return math.Log1p(float64(g[mnist.Classes-1-r][c])) }
func (g *confusionGrid) X(c int) float64    { return float64(c) }
func (g *confusionGrid) Y(r int) float64    { return float64(r) }

func digitTicks(top bool) plot.Ticker {
	var ticks []plot.Tick
	for d := range mnist.Classes {
		v := float64(d)
		if top {
			v = float64(mnist.Classes - 1 - d)
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.Itoa(d)})
	}
	return plot.ConstantTicks(ticks)
}

// confusionPicture draws the confusion matrix with its counts.
func confusionPicture(d *evalDetail, evalName string) (*vgimg.Canvas, error) {
	m := confusionGrid(d.confusion())
	p := plot.New()
	correct, total := 0, len(d.labels)
	for i := range mnist.Classes {
		correct += m[i][i]
	}
	p.Title.Text = fmt.Sprintf("Confusion matrix: %d of %d %s images right (%.2f%%)", correct, total, evalName, 100*float64(correct)/float64(total))
	p.X.Label.Text = "predicted"
	p.Y.Label.Text = "true"
	p.X.Tick.Marker = digitTicks(false)
	p.Y.Tick.Marker = digitTicks(true)
	blues, err := brewer.GetPalette(brewer.TypeSequential, "Blues", 9)
	if err != nil {
		return nil, err
	}
	heat := plotter.NewHeatMap(&m, blues)
	most := 0
	for r := range 10 {
		for c := range 10 {
			most = max(most, m[r][c])
		}
	}
	heat.Min, heat.Max = 0, math.Log1p(float64(max(most, 1)))
	p.Add(heat)
	var labels plotter.XYLabels
	var dark []bool
	for r := range 10 {
		for c := range 10 {
			if n := m[r][c]; n > 0 {
				labels.XYs = append(labels.XYs, plotter.XY{X: float64(c), Y: float64(9 - r)})
				labels.Labels = append(labels.Labels, strconv.Itoa(n))
				dark = append(dark, math.Log1p(float64(n)) > 0.6*heat.Max)
			}
		}
	}
	text, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, err
	}
	for i := range text.TextStyle {
		text.TextStyle[i].XAlign = draw.XCenter
		text.TextStyle[i].YAlign = draw.YCenter
		text.TextStyle[i].Font.Size = vg.Points(9)
		if dark[i] {
			text.TextStyle[i].Color = color.White
		}
	}
	p.Add(text)
	img := plotfile.Draw(p, 560, 540)
	return img, nil
}

// misclassified draws up to 25 wrongly classified test images, the most
// confident mistakes first, each titled with its true and predicted label.
func misclassified(d *evalDetail, test *mnist.Set) (*vgimg.Canvas, error) {
	var wrong []int
	for i := range d.labels {
		if d.preds[i] != d.labels[i] {
			wrong = append(wrong, i)
		}
	}
	sort.SliceStable(wrong, func(a, b int) bool { return d.probs[wrong[a]] > d.probs[wrong[b]] })
	if len(wrong) > 25 {
		wrong = wrong[:25]
	}
	const cols = 5
	rows := max(1, (len(wrong)+cols-1)/cols)
	plots := make([][]*plot.Plot, rows)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
	}
	for k, i := range wrong {
		p := plot.New()
		p.HideAxes()
		p.Title.Text = fmt.Sprintf("true %d, said %d (%.0f%%)", d.labels[i], d.preds[i], 100*d.probs[i])
		p.Title.TextStyle.Font.Size = vg.Points(10)
		p.Add(plotter.NewImage(transforms.DigitImage(test.Image(i)), 0, 0, mnist.Cols, mnist.Rows))
		plots[k/cols][k%cols] = p
	}
	img := vgimg.New(vg.Points(120*cols), vg.Points(float64(130*rows+30)))
	dc := draw.New(img)
	title := fmt.Sprintf("%d misclassified test images", countWrong(d))
	if len(wrong) < countWrong(d) {
		title += fmt.Sprintf(", the %d most confident", len(wrong))
	}
	header := plot.New()
	header.HideAxes()
	header.Title.Text = title
	header.Draw(draw.Crop(dc, 0, 0, vg.Points(float64(130*rows)), 0))
	body := draw.Crop(dc, 0, 0, 0, -vg.Points(30))
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(4), PadY: vg.Points(4), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(4)}
	canvases := plot.Align(plots, tiles, body)
	for r := range plots {
		for c := range plots[r] {
			if plots[r][c] != nil {
				plots[r][c].Draw(canvases[r][c])
			}
		}
	}
	return img, nil
}

func countWrong(d *evalDetail) int {
	n := 0
	for i := range d.labels {
		if d.preds[i] != d.labels[i] {
			n++
		}
	}
	return n
}
