package engine

import (
	"context"
	"fmt"
	"math"

	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
	"github.com/tinydigits/tinydigits/transforms"
)

// stepper runs training steps and evaluation of one network.
type stepper struct {
	net    *nn.Sequential
	opt    *optim.SGD
	device torch.Device
	hook   func(epoch, batch int, s *stepper)
}

// tally accumulates loss (summed over images) and correct predictions.
type tally struct {
	loss          float64
	correct, seen int
}

// toDevice copies a prepared batch into libtorch, once, and moves it to the
// device. The caller closes both tensors.
func toDevice(b *transforms.Batch, d torch.Device) (x, y *torch.Tensor, err error) {
	x, err = torch.FromSlice(b.X[:b.N*b.W*b.H], b.Shape()...)
	if err != nil {
		return nil, nil, err
	}
	y, err = torch.FromSlice(b.Y[:b.N], int64(b.N))
	if err != nil {
		x.Close()
		return nil, nil, err
	}
	if d.IsCUDA() {
		xd, err := x.To(d)
		x.Close()
		if err != nil {
			y.Close()
			return nil, nil, err
		}
		yd, err := y.To(d)
		y.Close()
		if err != nil {
			xd.Close()
			return nil, nil, err
		}
		x, y = xd, yd
	}
	return x, y, nil
}

// countCorrect is the number of rows of log-probabilities whose argmax is the
// label.
func countCorrect(out, y *torch.Tensor) (int, error) {
	pred, err := out.Argmax(1, false)
	if err != nil {
		return 0, err
	}
	defer pred.Close()
	eq, err := pred.Eq(y)
	if err != nil {
		return 0, err
	}
	defer eq.Close()
	sum, err := eq.Sum()
	if err != nil {
		return 0, err
	}
	defer sum.Close()
	n, err := sum.Item()
	return int(n), err
}

// errNotFinite reports a NaN or infinite loss.
type errNotFinite struct {
	loss         float64
	epoch, batch int
	lr           float64
}

func (e *errNotFinite) Error() string {
	return fmt.Sprintf("the loss is %v at epoch %d, batch %d (lr %g): training diverged; try a smaller -lr", e.loss, e.epoch, e.batch, e.lr)
}

// step trains on one batch and returns its mean loss and correct count. A
// loss that is not finite stops before the update.
func (s *stepper) step(b *transforms.Batch, epoch int, lr float64) (float64, int, error) {
	x, y, err := toDevice(b, s.device)
	if err != nil {
		return 0, 0, err
	}
	defer x.Close()
	defer y.Close()
	if err := s.opt.ZeroGrad(); err != nil {
		return 0, 0, err
	}
	out, err := s.net.Forward(x)
	if err != nil {
		return 0, 0, err
	}
	defer out.Close()
	loss, err := nn.NLLLoss(out, y)
	if err != nil {
		return 0, 0, err
	}
	defer loss.Close()
	lv, err := loss.Item()
	if err != nil {
		return 0, 0, err
	}
	if math.IsNaN(lv) || math.IsInf(lv, 0) {
		return 0, 0, &errNotFinite{loss: lv, epoch: epoch + 1, batch: b.Index + 1, lr: lr}
	}
	if err := loss.Backward(); err != nil {
		return 0, 0, err
	}
	if err := s.opt.Step(); err != nil {
		return 0, 0, err
	}
	correct, err := countCorrect(out, y)
	return lv, correct, err
}

// trainEpoch runs one epoch (one batch for a dry run) in training mode. A
// cancelled context stops it at the next batch boundary.
func (s *stepper) trainEpoch(ctx context.Context, l *transforms.Loader, epoch int, lr float64, dry bool, p *progress) (tally, error) {
	s.net.Train(true)
	it := l.Epoch(epoch)
	defer it.Close()
	var t tally
	for {
		if err := ctx.Err(); err != nil {
			return t, err
		}
		b, ok := it.Next()
		if !ok {
			break
		}
		loss, correct, err := s.step(b, epoch, lr)
		if err != nil {
			if _, nf := err.(*errNotFinite); nf {
				return t, err
			}
			return t, fmt.Errorf("epoch %d, batch %d: %w", epoch+1, b.Index+1, err)
		}
		t.loss += loss * float64(b.N)
		t.correct += correct
		t.seen += b.N
		p.update(b.Index+1, b.N, loss, t)
		if s.hook != nil {
			s.hook(epoch, b.Index, s)
		}
		if dry {
			break
		}
	}
	return t, nil
}

// evalDetail is one evaluation's prediction for every test image, in the
// test set's order.
type evalDetail struct {
	labels, preds []uint8
	probs         []float32 // the predicted class's probability
}

func (d *evalDetail) confusion() (m [10][10]int) {
	for i, l := range d.labels {
		m[l][d.preds[i]]++
	}
	return m
}

// confusionRows is the confusion matrix as rows of true classes.
func (d *evalDetail) confusionRows() [][]int {
	m := d.confusion()
	rows := make([][]int, 10)
	for i := range rows {
		rows[i] = m[i][:]
	}
	return rows
}

// classAccuracy is each digit's accuracy in percent.
func (d *evalDetail) classAccuracy() []float64 {
	m := d.confusion()
	acc := make([]float64, 10)
	for c := range acc {
		total := 0
		for _, n := range m[c] {
			total += n
		}
		if total > 0 {
			acc[c] = 100 * float64(m[c][c]) / float64(total)
		}
	}
	return acc
}

// evaluate runs the test set in eval mode without autograd. The loss is
// summed over images, as pytorch/examples' test loop does; predictions are
// read back for the pictures and the confusion matrix.
func (s *stepper) evaluate(l *transforms.Loader, dry bool) (tally, *evalDetail, error) {
	s.net.Train(false)
	var t tally
	d := &evalDetail{}
	err := torch.NoGrad(func() error {
		it := l.Epoch(0)
		defer it.Close()
		for {
			b, ok := it.Next()
			if !ok {
				return nil
			}
			loss, err := s.evalBatch(b, d)
			if err != nil {
				return fmt.Errorf("evaluation: %w", err)
			}
			t.loss += loss
			t.seen += b.N
			if dry {
				return nil
			}
		}
	})
	for i, l := range d.labels {
		if d.preds[i] == l {
			t.correct++
		}
	}
	return t, d, err
}

// evalBatch adds one batch's predictions to d and returns its summed loss.
func (s *stepper) evalBatch(b *transforms.Batch, d *evalDetail) (float64, error) {
	x, y, err := toDevice(b, s.device)
	if err != nil {
		return 0, err
	}
	defer x.Close()
	defer y.Close()
	out, err := s.net.Infer(x)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	loss, err := torch.NLLLoss(out, y, torch.ReduceSum)
	if err != nil {
		return 0, err
	}
	defer loss.Close()
	lv, err := loss.Item()
	if err != nil {
		return 0, err
	}
	logp, err := out.Float32s()
	if err != nil {
		return 0, err
	}
	classes := len(logp) / b.N
	for i := range b.N {
		row := logp[i*classes : (i+1)*classes]
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		d.labels = append(d.labels, uint8(b.Y[i]))
		d.preds = append(d.preds, uint8(best))
		d.probs = append(d.probs, float32(math.Exp(float64(row[best]))))
	}
	return lv, nil
}
