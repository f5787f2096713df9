package engine

import (
	"context"
	"fmt"

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

// step trains on one batch and returns its mean loss and correct count.
func (s *stepper) step(b *transforms.Batch) (float64, int, error) {
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
	if err := loss.Backward(); err != nil {
		return 0, 0, err
	}
	if err := s.opt.Step(); err != nil {
		return 0, 0, err
	}
	lv, err := loss.Item()
	if err != nil {
		return 0, 0, err
	}
	correct, err := countCorrect(out, y)
	return lv, correct, err
}

// trainEpoch runs one epoch (one batch for a dry run) in training mode.
func (s *stepper) trainEpoch(ctx context.Context, l *transforms.Loader, epoch int, dry bool, p *progress) (tally, error) {
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
		loss, correct, err := s.step(b)
		if err != nil {
			return t, fmt.Errorf("epoch %d, batch %d: %w", epoch+1, b.Index+1, err)
		}
		t.loss += loss * float64(b.N)
		t.correct += correct
		t.seen += b.N
		p.update(b.Index+1, b.N, loss, t)
		if dry {
			break
		}
	}
	return t, nil
}

// evaluate runs the test set in eval mode without autograd; the loss is
// summed over images, as pytorch/examples' test loop does.
func (s *stepper) evaluate(l *transforms.Loader, dry bool) (tally, error) {
	s.net.Train(false)
	var t tally
	err := torch.NoGrad(func() error {
		it := l.Epoch(0)
		defer it.Close()
		for {
			b, ok := it.Next()
			if !ok {
				return nil
			}
			x, y, err := toDevice(b, s.device)
			if err != nil {
				return err
			}
			out, err := s.net.Forward(x)
			x.Close()
			if err != nil {
				y.Close()
				return err
			}
			loss, err := torch.NLLLoss(out, y, torch.ReduceSum)
			if err == nil {
				var lv float64
				lv, err = loss.Item()
				t.loss += lv
				loss.Close()
			}
			var correct int
			if err == nil {
				correct, err = countCorrect(out, y)
			}
			out.Close()
			y.Close()
			if err != nil {
				return fmt.Errorf("evaluation: %w", err)
			}
			t.correct += correct
			t.seen += b.N
			if dry {
				return nil
			}
		}
	})
	return t, err
}
