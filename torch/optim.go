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
	// LRFrom, when set, is a scalar tensor on the parameters' device that
	// the step reads the rate from when it runs (LR is then unused), so a
	// captured CUDA graph follows a schedule without being captured again.
	LRFrom *Tensor
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
	hs := handleSet{op: "sgd step"}
	ph, bh, lr := hs.list("parameter", params, false), hs.list("momentum buffer", bufs, true), hs.optional("learning rate", c.LRFrom)
	if hs.err != nil {
		return hs.err
	}
	err := check("sgd step", C.tt_sgd_step(&ph[0], &bh[0], C.int64_t(len(ph)), C.double(c.LR), lr,
		C.double(c.Momentum), C.double(c.Dampening), C.double(c.WeightDecay), cbool(c.Nesterov)))
	runtime.KeepAlive(c.LRFrom)
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
	hs := handleSet{op: "zero_grad"}
	ph := hs.list("parameter", params, false)
	if hs.err != nil {
		return hs.err
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
	if !(weight >= 0 && weight <= 1) {
		return fmt.Errorf("torch: average: weight %g is not in [0, 1]", weight)
	}
	return average(avg, src, weight, nil)
}

// AverageFrom is Average with the weight read from weight, a scalar tensor
// on the tensors' device, when the update runs: a captured CUDA graph then
// follows a changing weight (an EMA's warm-up) without being captured again.
// Integer tensors are copied.
func AverageFrom(avg, src []*Tensor, weight *Tensor) error {
	if weight == nil {
		return fmt.Errorf("torch: average: no weight tensor")
	}
	return average(avg, src, 0, weight)
}

func average(avg, src []*Tensor, weight float64, weightFrom *Tensor) error {
	if len(avg) != len(src) {
		return fmt.Errorf("torch: average: %d averaged tensors for %d sources", len(avg), len(src))
	}
	hs := handleSet{op: "average"}
	wt := hs.optional("weight", weightFrom)
	if hs.err != nil || len(avg) == 0 {
		return hs.err
	}
	ah, sh := hs.list("tensor", avg, false), hs.list("source", src, false)
	if hs.err != nil {
		return hs.err
	}
	err := check("average", C.tt_average(&ah[0], &sh[0], C.int64_t(len(ah)), C.double(weight), wt))
	runtime.KeepAlive(weightFrom)
	runtime.KeepAlive(avg)
	runtime.KeepAlive(src)
	return err
}

// handleSet gathers the handles of one shim call's tensors; the first
// closed tensor's error, "torch: <op>: <what> [index]: ...", sticks, and
// later calls then do nothing.
type handleSet struct {
	op  string
	err error
}

// list returns the handles of ts. With nilOK, a nil entry stays a nil
// handle (a momentum buffer the step creates).
func (hs *handleSet) list(what string, ts []*Tensor, nilOK bool) []C.tt_tensor {
	out := make([]C.tt_tensor, len(ts))
	for i, t := range ts {
		if hs.err != nil {
			return nil
		}
		if t == nil && nilOK {
			continue
		}
		var err error
		if out[i], err = t.handle(); err != nil {
			hs.err = fmt.Errorf("torch: %s: %s %d: %w", hs.op, what, i, err)
		}
	}
	return out
}

// optional returns t's handle, or a nil handle when t is nil.
func (hs *handleSet) optional(what string, t *Tensor) C.tt_tensor {
	if t == nil || hs.err != nil {
		return nil
	}
	h, err := t.handle()
	if err != nil {
		hs.err = fmt.Errorf("torch: %s: %s: %w", hs.op, what, err)
	}
	return h
}
