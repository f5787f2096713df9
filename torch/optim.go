package torch

// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime"
)

// SGDConfig holds the hyperparameters of one SGD step, as torch.optim.SGD
// names them.
type SGDConfig struct {
	LR, Momentum, Dampening, WeightDecay float64
	Nesterov                             bool
}

// SGDStep applies one step of torch.optim.SGD's update rule to params, in
// native code and in one call. bufs holds one momentum buffer per parameter:
// nil entries (before the first step) are created by the step, which stores
// the new tensors in bufs; the caller owns and closes them. Parameters
// without a gradient are skipped.
func SGDStep(params, bufs []*Tensor, c SGDConfig) error {
	if len(bufs) != len(params) {
		return fmt.Errorf("torch: sgd step: %d momentum buffers for %d parameters", len(bufs), len(params))
	}
	if len(params) == 0 {
		return nil
	}
	ph := make([]C.tt_tensor, len(params))
	bh := make([]C.tt_tensor, len(params))
	for i, p := range params {
		h, err := p.handle()
		if err != nil {
			return fmt.Errorf("torch: sgd step: parameter %d: %w", i, err)
		}
		ph[i] = h
		if bufs[i] != nil {
			if bh[i], err = bufs[i].handle(); err != nil {
				return fmt.Errorf("torch: sgd step: momentum buffer %d: %w", i, err)
			}
		}
	}
	err := check("sgd step", C.tt_sgd_step(&ph[0], &bh[0], C.int64_t(len(ph)), C.double(c.LR),
		C.double(c.Momentum), C.double(c.Dampening), C.double(c.WeightDecay), cbool(c.Nesterov)))
	// Adopt the buffers the step created, even when a later parameter failed.
	for i := range bufs {
		if bufs[i] == nil && bh[i] != nil {
			bufs[i] = newTensor(bh[i])
		}
	}
	runtime.KeepAlive(params)
	runtime.KeepAlive(bufs)
	return err
}

// ZeroGrad clears the parameters' gradients (sets them to none, as PyTorch 2's
// zero_grad does by default).
func ZeroGrad(params []*Tensor) error {
	if len(params) == 0 {
		return nil
	}
	ph := make([]C.tt_tensor, len(params))
	for i, p := range params {
		h, err := p.handle()
		if err != nil {
			return fmt.Errorf("torch: zero_grad: parameter %d: %w", i, err)
		}
		ph[i] = h
	}
	err := check("zero_grad", C.tt_zero_grad(&ph[0], C.int64_t(len(ph))))
	runtime.KeepAlive(params)
	return err
}

// Average moves each tensor of avg toward the tensor of src at the same
// index, in place, in native code and in one call: avg += weight·(src −
// avg) for floating-point tensors, an exact copy when weight is 1 and for
// integer tensors (BatchNorm's num_batches_tracked). An exponential moving
// average with decay d passes weight 1 − d; an equal average of k + 1
// models, 1/(k + 1). Autograd does not record it.
func Average(avg, src []*Tensor, weight float64) error {
	if len(avg) != len(src) {
		return fmt.Errorf("torch: average: %d averaged tensors for %d sources", len(avg), len(src))
	}
	if !(weight >= 0 && weight <= 1) {
		return fmt.Errorf("torch: average: weight %g is not in [0, 1]", weight)
	}
	if len(avg) == 0 {
		return nil
	}
	ah := make([]C.tt_tensor, len(avg))
	sh := make([]C.tt_tensor, len(src))
	for i := range avg {
		var err error
		if ah[i], err = avg[i].handle(); err != nil {
			return fmt.Errorf("torch: average: tensor %d: %w", i, err)
		}
		if sh[i], err = src[i].handle(); err != nil {
			return fmt.Errorf("torch: average: source %d: %w", i, err)
		}
	}
	err := check("average", C.tt_average(&ah[0], &sh[0], C.int64_t(len(ah)), C.double(weight)))
	runtime.KeepAlive(avg)
	runtime.KeepAlive(src)
	return err
}
