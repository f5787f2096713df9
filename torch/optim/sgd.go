// Package optim holds optimizers and learning-rate schedules.
//
// SGD's update runs in libtorch, one native call per step over all
// parameters; schedules are small Go types that give the learning rate for an
// epoch, and the training loop sets it.
package optim

import (
	"fmt"

	"github.com/tinydigits/tinydigits/torch"
)

// SGDConfig holds SGD's hyperparameters, with torch.optim.SGD's meaning.
type SGDConfig struct {
	LR          float64
	Momentum    float64
	Dampening   float64
	WeightDecay float64
	Nesterov    bool
}

// SGD is stochastic gradient descent with momentum, weight decay and
// Nesterov momentum, with exactly torch.optim.SGD's update:
//
//	g = grad + weight_decay·p
//	buf = g (first step), else momentum·buf + (1 − dampening)·g
//	g = g + momentum·buf (Nesterov), else buf
//	p = p − lr·g
type SGD struct {
	cfg    SGDConfig
	params []*torch.Tensor
	bufs   []*torch.Tensor // momentum buffers, nil until the first step
	lrFrom *torch.Tensor   // where steps read the rate, when set
}

// NewSGD makes an optimizer over params (e.g. nn.Parameters(model)).
func NewSGD(params []*torch.Tensor, cfg SGDConfig) (*SGD, error) {
	switch {
	case cfg.LR < 0:
		return nil, fmt.Errorf("sgd: invalid learning rate %g", cfg.LR)
	case cfg.Momentum < 0:
		return nil, fmt.Errorf("sgd: invalid momentum %g", cfg.Momentum)
	case cfg.WeightDecay < 0:
		return nil, fmt.Errorf("sgd: invalid weight decay %g", cfg.WeightDecay)
	case cfg.Nesterov && (cfg.Momentum <= 0 || cfg.Dampening != 0):
		return nil, fmt.Errorf("sgd: Nesterov momentum requires a momentum and zero dampening")
	}
	return &SGD{cfg: cfg, params: params, bufs: make([]*torch.Tensor, len(params))}, nil
}

// ZeroGrad clears the parameters' gradients before the next backward pass.
func (o *SGD) ZeroGrad() error { return torch.ZeroGrad(o.params) }

// Step updates every parameter that has a gradient.
func (o *SGD) Step() error {
	return torch.SGDStep(o.params, o.bufs, torch.SGDConfig{
		LR: o.cfg.LR, Momentum: o.cfg.Momentum, Dampening: o.cfg.Dampening,
		WeightDecay: o.cfg.WeightDecay, Nesterov: o.cfg.Nesterov, LRFrom: o.lrFrom,
	})
}

// LR is the current learning rate.
func (o *SGD) LR() float64 { return o.cfg.LR }

// SetLR changes the learning rate for the following steps (and writes it to
// the rate tensor, when steps read it from one).
func (o *SGD) SetLR(lr float64) error {
	if lr == o.cfg.LR {
		return nil
	}
	o.cfg.LR = lr
	if o.lrFrom != nil {
		return o.lrFrom.Fill(lr)
	}
	return nil
}

// ReadLRFrom makes the following steps read the rate from t, a scalar tensor
// on the parameters' device that SetLR keeps up to date (nil: back to the
// plain rate). A step captured into a CUDA graph then follows the schedule
// on every replay. The optimizer does not own t.
func (o *SGD) ReadLRFrom(t *torch.Tensor) error {
	o.lrFrom = t
	if t != nil {
		return t.Fill(o.cfg.LR)
	}
	return nil
}

// Config returns the hyperparameters in use.
func (o *SGD) Config() SGDConfig { return o.cfg }

// MomentumBuffers returns the momentum buffer of each parameter (nil before
// its first step). They belong to the optimizer; do not close them.
func (o *SGD) MomentumBuffers() []*torch.Tensor { return o.bufs }

// SetMomentumBuffer gives parameter i the momentum buffer t (restoring a
// checkpoint); the optimizer takes ownership and frees the one it had.
func (o *SGD) SetMomentumBuffer(i int, t *torch.Tensor) error {
	if i < 0 || i >= len(o.bufs) {
		return fmt.Errorf("sgd: momentum buffer %d of %d", i, len(o.bufs))
	}
	o.bufs[i].Close()
	o.bufs[i] = t
	return nil
}

// Close frees the momentum buffers.
func (o *SGD) Close() {
	for i, b := range o.bufs {
		b.Close()
		o.bufs[i] = nil
	}
}
