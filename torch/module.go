package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Module is the raw layer under package nn: a handle to one libtorch
// torch::nn module (Conv2d, BatchNorm2d, ...), so that its kernels run in
// native code. Package nn wraps it in friendlier types; most code should use
// those.
type Module struct {
	h    C.tt_module
	kind string
}

func newModule(kind string, e C.tt_error, h C.tt_module) (*Module, error) {
	if err := check(kind, e); err != nil {
		return nil, err
	}
	m := &Module{h: h, kind: kind}
	runtime.SetFinalizer(m, (*Module).Close)
	return m, nil
}

// Kind names the libtorch module type, e.g. "Conv2d".
func (m *Module) Kind() string { return m.kind }

// Close frees the module. Tensors taken from it stay valid until closed.
func (m *Module) Close() {
	if m == nil || m.h == nil {
		return
	}
	C.tt_module_free(m.h)
	m.h = nil
	runtime.SetFinalizer(m, nil)
}

// NewConv2d makes torch::nn::Conv2d with square kernels.
func NewConv2d(in, out, kernel, stride, padding, groups int, bias bool) (*Module, error) {
	var h C.tt_module
	e := C.tt_conv2d(C.int64_t(in), C.int64_t(out), C.int64_t(kernel), C.int64_t(stride), C.int64_t(padding), C.int64_t(groups), cbool(bias), &h)
	return newModule("Conv2d", e, h)
}

// NewBatchNorm2d makes torch::nn::BatchNorm2d.
func NewBatchNorm2d(features int, eps, momentum float64, affine bool) (*Module, error) {
	var h C.tt_module
	e := C.tt_batchnorm2d(C.int64_t(features), C.double(eps), C.double(momentum), cbool(affine), &h)
	return newModule("BatchNorm2d", e, h)
}

// NewDropout makes torch::nn::Dropout.
func NewDropout(p float64) (*Module, error) {
	var h C.tt_module
	e := C.tt_dropout(C.double(p), &h)
	return newModule("Dropout", e, h)
}

// NewDropout2d makes torch::nn::Dropout2d: whole channels zeroed.
func NewDropout2d(p float64) (*Module, error) {
	var h C.tt_module
	e := C.tt_dropout2d(C.double(p), &h)
	return newModule("Dropout2d", e, h)
}

// NewSiLU makes torch::nn::SiLU, x·sigmoid(x).
func NewSiLU() (*Module, error) {
	var h C.tt_module
	e := C.tt_silu(&h)
	return newModule("SiLU", e, h)
}

// NewGELU makes torch::nn::GELU, exact or with the tanh approximation.
func NewGELU(tanh bool) (*Module, error) {
	var h C.tt_module
	e := C.tt_gelu(cbool(tanh), &h)
	return newModule("GELU", e, h)
}

// NewReLU makes torch::nn::ReLU; an in-place one overwrites its input.
func NewReLU(inplace bool) (*Module, error) {
	var h C.tt_module
	e := C.tt_relu(cbool(inplace), &h)
	return newModule("ReLU", e, h)
}

// NewMaxPool2d makes torch::nn::MaxPool2d.
func NewMaxPool2d(kernel, stride int) (*Module, error) {
	var h C.tt_module
	e := C.tt_maxpool2d(C.int64_t(kernel), C.int64_t(stride), &h)
	return newModule("MaxPool2d", e, h)
}

// NewAvgPool2d makes torch::nn::AvgPool2d.
func NewAvgPool2d(kernel, stride int) (*Module, error) {
	var h C.tt_module
	e := C.tt_avgpool2d(C.int64_t(kernel), C.int64_t(stride), &h)
	return newModule("AvgPool2d", e, h)
}

// NewAdaptiveAvgPool2d makes torch::nn::AdaptiveAvgPool2d.
func NewAdaptiveAvgPool2d(outH, outW int) (*Module, error) {
	var h C.tt_module
	e := C.tt_adaptive_avgpool2d(C.int64_t(outH), C.int64_t(outW), &h)
	return newModule("AdaptiveAvgPool2d", e, h)
}

// NewLinear makes torch::nn::Linear.
func NewLinear(in, out int, bias bool) (*Module, error) {
	var h C.tt_module
	e := C.tt_linear(C.int64_t(in), C.int64_t(out), cbool(bias), &h)
	return newModule("Linear", e, h)
}

// NewFlatten makes torch::nn::Flatten.
func NewFlatten(startDim, endDim int) (*Module, error) {
	var h C.tt_module
	e := C.tt_flatten(C.int64_t(startDim), C.int64_t(endDim), &h)
	return newModule("Flatten", e, h)
}

// NewLogSoftmax makes torch::nn::LogSoftmax.
func NewLogSoftmax(dim int) (*Module, error) {
	var h C.tt_module
	e := C.tt_log_softmax(C.int64_t(dim), &h)
	return newModule("LogSoftmax", e, h)
}

// Forward runs the module on x and returns a new tensor.
func (m *Module) Forward(x *Tensor) (*Tensor, error) {
	if m == nil || m.h == nil {
		return nil, fmt.Errorf("torch: forward: use of a closed module")
	}
	hx, err := x.handle()
	if err != nil {
		return nil, fmt.Errorf("torch: %s forward: %w", m.kind, err)
	}
	var out C.tt_tensor
	err = check(m.kind+" forward", C.tt_module_forward(m.h, hx, &out))
	runtime.KeepAlive(m)
	runtime.KeepAlive(x)
	if err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// ForwardChain runs modules one after another on x in one native call and
// returns the last output; the intermediate results never reach Go. With
// inference set it runs under libtorch's InferenceMode, which skips all
// autograd bookkeeping: for evaluation, whose outputs never need a gradient.
func ForwardChain(mods []*Module, x *Tensor, inference bool) (*Tensor, error) {
	hx, err := x.handle()
	if err != nil {
		return nil, fmt.Errorf("torch: forward: %w", err)
	}
	hs := make([]C.tt_module, len(mods)+1)
	for i, m := range mods {
		if m == nil || m.h == nil {
			return nil, fmt.Errorf("torch: forward: module %d is closed", i)
		}
		hs[i] = m.h
	}
	var out C.tt_tensor
	err = check("forward", C.tt_forward_chain(&hs[0], C.int64_t(len(mods)), hx, cbool(inference), &out))
	runtime.KeepAlive(mods)
	runtime.KeepAlive(x)
	if err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// Train switches training mode (batch statistics, active dropout) on or off.
func (m *Module) Train(on bool) {
	if m == nil || m.h == nil {
		return
	}
	C.tt_module_train(m.h, cbool(on))
	runtime.KeepAlive(m)
}

// IsTraining reports the module's mode.
func (m *Module) IsTraining() bool {
	if m == nil || m.h == nil {
		return false
	}
	on := C.tt_module_is_training(m.h) != 0
	runtime.KeepAlive(m)
	return on
}

// To moves the module's parameters and buffers to d, converting floating
// point ones to dtype unless dtype is negative. Handles taken from the module
// before keep referring to its tensors.
func (m *Module) To(d Device, dtype DType) error {
	if m == nil || m.h == nil {
		return fmt.Errorf("torch: to: use of a closed module")
	}
	err := check(m.kind+" to "+d.String(), C.tt_module_to(m.h, C.int(d.Type), C.int(d.Index), C.int(dtype)))
	runtime.KeepAlive(m)
	return err
}

// BatchNormCumulative makes a BatchNorm2d's running statistics the
// cumulative average of the batches it sees from now on in training mode
// (they and the batch count are reset; PyTorch's momentum=None), for
// recomputing them over a pass of the data. EndBatchNormCumulative goes
// back to the exponential average with momentum.
func (m *Module) BatchNormCumulative() error { return m.batchNorm(true, 0) }

// EndBatchNormCumulative sets a BatchNorm2d's momentum again.
func (m *Module) EndBatchNormCumulative(momentum float64) error { return m.batchNorm(false, momentum) }

func (m *Module) batchNorm(cumulative bool, momentum float64) error {
	if m == nil || m.h == nil {
		return fmt.Errorf("torch: batchnorm: use of a closed module")
	}
	err := check(m.kind+" momentum", C.tt_batchnorm_cumulative(m.h, cbool(cumulative), C.double(momentum)))
	runtime.KeepAlive(m)
	return err
}

// Named is a tensor with its name in a module or state dict.
type Named struct {
	Name   string
	Tensor *Tensor
}

// Parameters returns new handles to the module's parameters, in libtorch's
// registration order (weight before bias).
func (m *Module) Parameters() ([]Named, error) { return m.named(0) }

// Buffers returns new handles to the module's buffers (a BatchNorm's
// running_mean, running_var, num_batches_tracked).
func (m *Module) Buffers() ([]Named, error) { return m.named(1) }

func (m *Module) named(kind int) ([]Named, error) {
	if m == nil || m.h == nil {
		return nil, fmt.Errorf("torch: named tensors: use of a closed module")
	}
	var names *C.char
	var tensors *C.tt_tensor
	var n C.int64_t
	err := check(m.kind+" named tensors", C.tt_module_named(m.h, C.int(kind), &names, &tensors, &n))
	runtime.KeepAlive(m)
	if err != nil {
		return nil, err
	}
	return importNamed(names, tensors, n), nil
}

// importNamed takes ownership of the blocks that tt_module_named and
// tt_load_tensors return.
func importNamed(names *C.char, tensors *C.tt_tensor, n C.int64_t) []Named {
	defer C.free(unsafe.Pointer(names))
	defer C.free(unsafe.Pointer(tensors))
	out := make([]Named, int(n))
	hs := unsafe.Slice(tensors, int(n))
	p := names
	for i := range out {
		name := C.GoString(p)
		p = (*C.char)(unsafe.Add(unsafe.Pointer(p), len(name)+1))
		out[i] = Named{Name: name, Tensor: newTensor(hs[i])}
	}
	return out
}
