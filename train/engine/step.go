package engine

import (
	"cmp"
	"context"
	"errors"
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
	// every is how often (in batches) training reads its running loss and
	// accuracy back from the device: 1 on the CPU, where reading is free and
	// a non-finite loss then stops before its update; -log-interval on a GPU,
	// which should not wait for the host after each batch.
	every int
	// lrAt, when set, gives the learning rate of every training step
	// (0-based over the whole run), for schedules stepped every batch.
	lrAt func(step int) float64
	// smoothing is the training loss's label smoothing (0: plain NLL).
	smoothing float64
	// ema, when set, averages the weights in after every step.
	ema *optim.Average
	// graph, when set, replays the full-size training step as a CUDA graph.
	graph *graphStep
	// acc is the training tally, kept for the whole run (a captured step
	// adds to the same tensors every replay) and zeroed at each epoch.
	acc *torch.Tally
	// cacheEval keeps the evaluation batches on the device after the first
	// evaluation (a GPU's: the set never changes, so later evaluations are
	// forward passes alone); evalCache holds them.
	cacheEval bool
	evalCache []evalInput
	hook      func(epoch, batch int, s *stepper)
	evalHook  func(batch int)
}

// evalInput is one evaluation batch on the device.
type evalInput struct {
	x, y   *torch.Tensor
	labels []uint8
}

// close frees what the stepper made on the device.
func (s *stepper) close() {
	if s.graph != nil {
		s.graph.close(s)
		s.graph = nil
	}
	s.acc.Close()
	s.acc = nil
	for _, in := range s.evalCache {
		in.x.Close()
		in.y.Close()
	}
	s.evalCache = nil
}

// perEpoch reports a per-batch schedule's rate at each epoch's first step,
// for the epoch lines and metrics.
type perEpoch struct {
	lrAt    func(step int) float64
	batches int
}

func (p perEpoch) LR(_ float64, epoch int) float64 { return p.lrAt(epoch * p.batches) }

// tally accumulates loss (summed over images) and correct predictions.
type tally struct {
	loss          float64
	correct, seen int
}

// toDevice copies a prepared batch into libtorch, once, onto the device
// (through pinned memory and without waiting on a GPU). The caller closes
// both tensors.
func toDevice(b *transforms.Batch, d torch.Device) (x, y *torch.Tensor, err error) {
	x, err = torch.FromSliceOn(b.X[:b.N*b.W*b.H], d, b.Shape()...)
	if err != nil {
		return nil, nil, err
	}
	y, err = torch.FromSliceOn(b.Y[:b.N], d, int64(b.N))
	if err != nil {
		x.Close()
		return nil, nil, err
	}
	return x, y, nil
}

// errNotFinite reports a NaN or infinite loss.
type errNotFinite struct {
	loss         float64
	epoch, batch int
	lr           float64
	every        int // batches between checks (1: this very batch)
}

func (e *errNotFinite) Error() string {
	where := fmt.Sprintf("batch %d", e.batch)
	if e.every > 1 {
		where = fmt.Sprintf("batches %d–%d", max(1, e.batch-e.every+1), e.batch)
	}
	return fmt.Sprintf("the loss is %v at epoch %d, %s (lr %g): training diverged; try a smaller -lr", e.loss, e.epoch, where, e.lr)
}

// step trains on one batch, eagerly, and adds its loss and correct count
// to acc on the device. When read is set it reads the batch's loss back and
// checks the running sum: a loss that is not finite stops before the
// update.
func (s *stepper) step(b *transforms.Batch, acc *torch.Tally, read bool) (float64, error) {
	x, y, err := toDevice(b, s.device)
	if err != nil {
		return 0, err
	}
	defer x.Close()
	defer y.Close()
	lv := math.NaN()
	var check func(loss *torch.Tensor) error
	if read {
		check = func(loss *torch.Tensor) (err error) {
			lv, err = readLoss(loss, acc)
			return err
		}
	}
	loss, err := s.body(x, y, b.N, acc, false, check)
	loss.Close()
	return lv, err
}

// body is the training step itself, the one code that the eager step runs
// and a CUDA graph captures (graphStep): gradients set to none (a capture
// then allocates them in the graph's memory, and every replay overwrites
// them), the forward pass, the loss, the tally, then check (the eager
// step's read of the loss, between the tally and the update; nil in a
// capture, which cannot read), the backward pass, the SGD update and the
// average's update. It returns a detached copy of the loss: keeping the
// loss itself would keep a captured autograd graph alive, and with it the
// parameters' gradient accumulators bound to the capture stream. In a
// capture (captured), the average applies the weight its tensor holds and
// the caller counts the update after the replay; eagerly it updates in
// full.
func (s *stepper) body(x, y *torch.Tensor, n int, acc *torch.Tally, captured bool, check func(loss *torch.Tensor) error) (*torch.Tensor, error) {
	if err := s.opt.ZeroGrad(); err != nil {
		return nil, err
	}
	out, err := s.net.Forward(x)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	loss, err := nn.NLLLossSmoothed(out, y, s.smoothing)
	if err != nil {
		return nil, err
	}
	defer loss.Close()
	kept, err := loss.Clone()
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			kept.Close()
		}
	}()
	if err := acc.Add(loss, out, y, n); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(kept); err != nil {
			return nil, err
		}
	}
	if err := loss.Backward(); err != nil {
		return nil, err
	}
	if err := s.opt.Step(); err != nil {
		return nil, err
	}
	if s.ema != nil {
		if captured {
			err = s.ema.Apply()
		} else {
			err = s.ema.Update()
		}
		if err != nil {
			return nil, err
		}
	}
	ok = true
	return kept, nil
}

// readLoss reads a batch's loss and the running sum back from the device
// (a wait on a GPU). A loss that is not finite, the batch's own or the sum's
// when an earlier unread batch went bad, is an *errNotFinite.
func readLoss(loss *torch.Tensor, acc *torch.Tally) (float64, error) {
	lv, err := loss.Item()
	if err != nil {
		return 0, err
	}
	sum, _, err := acc.Read()
	if err != nil {
		return 0, err
	}
	if bad := cmp.Or(nonFinite(lv), nonFinite(sum)); bad != 0 {
		return 0, &errNotFinite{loss: bad}
	}
	return lv, nil
}

// syncEvery is stepper.every for a device: every batch on the CPU, every
// logInterval batches on a GPU.
func syncEvery(d torch.Device, logInterval int) int {
	if d.IsCUDA() {
		return max(1, logInterval)
	}
	return 1
}

// nonFinite returns v when it is NaN or infinite, else 0.
func nonFinite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	return 0
}

// trainEpoch runs one epoch (one batch for a dry run) in training mode. A
// cancelled context stops it at the next batch boundary.
func (s *stepper) trainEpoch(ctx context.Context, l *transforms.Loader, epoch int, lr float64, dry bool, p *progress) (tally, error) {
	s.net.Train(true)
	it := l.Epoch(epoch)
	defer it.Close()
	var t tally
	if s.acc == nil {
		var err error
		if s.acc, err = torch.NewTally(s.device); err != nil {
			return t, err
		}
	} else if err := s.acc.Zero(); err != nil {
		return t, err
	}
	acc := s.acc
	every, batches := max(1, s.every), l.NumBatches()
	for {
		if err := ctx.Err(); err != nil {
			return t, err
		}
		b, ok := it.Next()
		if !ok {
			break
		}
		read := (b.Index+1)%every == 0 || b.Index+1 == batches || dry
		if s.lrAt != nil {
			lr = s.lrAt(epoch*batches + b.Index)
			if err := s.opt.SetLR(lr); err != nil {
				return t, err
			}
		}
		var loss float64
		var err error
		if s.graph != nil {
			loss, err = s.graph.step(s, b, acc, read)
		} else {
			loss, err = s.step(b, acc, read)
		}
		if err != nil {
			var nf *errNotFinite
			if errors.As(err, &nf) {
				nf.epoch, nf.batch, nf.lr, nf.every = epoch+1, b.Index+1, lr, every
				return t, err
			}
			return t, fmt.Errorf("epoch %d, batch %d: %w", epoch+1, b.Index+1, err)
		}
		t.seen += b.N
		if read {
			if t.loss, t.correct, err = acc.Read(); err != nil {
				return t, err
			}
			p.update(b.Index+1, t.seen, loss, t)
		}
		if s.hook != nil {
			s.hook(epoch, b.Index, s)
		}
		if dry {
			break
		}
	}
	return t, nil
}

// add records a batch's predictions from its log-probabilities.
func (d *evalDetail) add(logp []float32, labels []uint8) {
	classes := len(logp) / len(labels)
	for i, label := range labels {
		row := logp[i*classes : (i+1)*classes]
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		d.labels = append(d.labels, label)
		d.preds = append(d.preds, uint8(best))
		d.probs = append(d.probs, float32(math.Exp(float64(row[best]))))
	}
}
