package optim

import (
	"fmt"
	"slices"

	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
)

// Average is a running average of the weights a network passes through
// during training, kept in a second network of the same layout: PyTorch's
// torch.optim.swa_utils.AveragedModel with use_buffers=True. Update, called
// after optimizer steps, averages every state-dict entry of the source into
// the copy: parameters and BatchNorm's running statistics alike (integer
// counters are copied), so the averaged network is evaluated as it is,
// with no pass over the data to recompute its statistics.
//
// With a decay d it is an exponential moving average (EMA): the first
// update copies; update n + 1 (n updates so far) does avg = dₙ·avg + (1 −
// dₙ)·current with dₙ = min(d, (1 + n)/(10 + n)), the warm-up of
// TensorFlow's ExponentialMovingAverage (num_updates), so early averages
// are not dominated by the random initial weights: the average covers
// about the last tenth of the steps until that is 1/(1 − d) steps. With
// decay 0 it is the equal average of every update so far (stochastic weight
// averaging, SWA): avg += (current − avg)/(n + 1).
type Average struct {
	decay      float64
	avg, src   []*torch.Tensor
	n          int64         // updates so far (AveragedModel's n_averaged)
	weightFrom *torch.Tensor // where updates read their weight, when set
}

// NewAverage averages src's weights into avg, a network of the same layout
// (built from the same arch). decay is the EMA's decay in (0, 1), or 0 for
// an equal average. It changes nothing until the first Update; the caller
// keeps owning both networks.
func NewAverage(avg, src nn.Module, decay float64) (*Average, error) {
	if !(decay >= 0 && decay < 1) {
		return nil, fmt.Errorf("average: decay must be in [0, 1), got %g", decay)
	}
	a, s := avg.StateDict(), src.StateDict()
	if len(a) != len(s) {
		return nil, fmt.Errorf("average: the averaged network has %d state entries, the trained one %d", len(a), len(s))
	}
	m := &Average{decay: decay}
	for i := range a {
		if a[i].Name != s[i].Name || !slices.Equal(a[i].Tensor.Shape(), s[i].Tensor.Shape()) {
			return nil, fmt.Errorf("average: entry %d is %s %v in the averaged network, %s %v in the trained one",
				i, a[i].Name, a[i].Tensor.Shape(), s[i].Name, s[i].Tensor.Shape())
		}
		m.avg = append(m.avg, a[i].Tensor)
		m.src = append(m.src, s[i].Tensor)
	}
	return m, nil
}

// Weight is how far the next update moves the average toward the current
// weights: 1 for the first, then 1 − dₙ (EMA) or 1/(n + 1) (equal).
func (m *Average) Weight() float64 {
	switch {
	case m.n == 0:
		return 1
	case m.decay > 0:
		n := float64(m.n)
		return 1 - min(m.decay, (1+n)/(10+n))
	}
	return 1 / float64(m.n+1)
}

// Update averages the source network's current weights in, in one native
// call on their device.
func (m *Average) Update() error {
	if m.weightFrom != nil {
		if err := m.Prepare(); err != nil {
			return err
		}
		if err := m.Apply(); err != nil {
			return err
		}
	} else if err := torch.Average(m.avg, m.src, m.Weight()); err != nil {
		return err
	}
	m.n++
	return nil
}

// ReadWeightFrom makes updates read their weight from t, a scalar tensor on
// the nets' device (nil: back to a plain number), so that an update captured
// into a CUDA graph follows the EMA's warm-up on every replay. Update then
// does Prepare, Apply and the count; a graph's step does Prepare before each
// replay, Apply inside the capture and Counted after. The average does not
// own t.
func (m *Average) ReadWeightFrom(t *torch.Tensor) { m.weightFrom = t }

// Prepare writes the next update's weight into the weight tensor.
func (m *Average) Prepare() error {
	if m.weightFrom == nil {
		return fmt.Errorf("average: no weight tensor (ReadWeightFrom)")
	}
	return m.weightFrom.Fill(m.Weight())
}

// Apply averages with the weight the weight tensor holds when the work runs;
// it does not count the update (Counted does).
func (m *Average) Apply() error {
	if m.weightFrom == nil {
		return fmt.Errorf("average: no weight tensor (ReadWeightFrom)")
	}
	return torch.AverageFrom(m.avg, m.src, m.weightFrom)
}

// Counted records an update that Apply queued (or a graph replayed).
func (m *Average) Counted() { m.n++ }

// Count is the number of updates so far.
func (m *Average) Count() int64 { return m.n }

// SetCount restores the number of updates (resuming from a checkpoint that
// holds the averaged weights).
func (m *Average) SetCount(n int64) error {
	if n < 0 {
		return fmt.Errorf("average: negative update count %d", n)
	}
	m.n = n
	return nil
}
