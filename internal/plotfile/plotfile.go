// Package plotfile holds what the run's pictures (train/engine) and the
// sweep's (sweep/report) share: the epoch axis and the PNG encoding.
package plotfile

import (
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// New is a plot with its title, its axes' labels and a grid.
func New(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

// EpochTicks marks epochs 1…n on an axis, labelling at most about labels
// of them (every one up to that many).
func EpochTicks(n, labels int) plot.Ticker {
	step := max(1, int(math.Ceil(float64(n)/float64(max(1, labels)))))
	var ticks []plot.Tick
	for e := 1; e <= n; e++ {
		label := ""
		if (e-1)%step == 0 {
			label = strconv.Itoa(e)
		}
		ticks = append(ticks, plot.Tick{Value: float64(e), Label: label})
	}
	return plot.ConstantTicks(ticks)
}

// Draw draws p on a new canvas of w×h points.
func Draw(p *plot.Plot, w, h float64) *vgimg.Canvas {
	img := vgimg.New(vg.Points(w), vg.Points(h))
	p.Draw(draw.New(img))
	return img
}

// Dashed sets a line's colour and its dashes: on points drawn, off
// points left out (a target or a budget).
func Dashed(l *plotter.Line, c color.Color, on, off float64) {
	l.Color, l.Dashes = c, []vg.Length{vg.Points(on), vg.Points(off)}
}

// PNG encodes a drawn canvas as PNG, for a writer of files
// (atomicfile.WriteFunc, runfolder.WritePicture).
func PNG(img *vgimg.Canvas) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w)
		return err
	}
}
