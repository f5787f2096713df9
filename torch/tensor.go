package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// ErrClosed is returned by operations on a tensor (or module) that has been
// closed.
var ErrClosed = errors.New("torch: use of a closed tensor")

// Tensor is a handle to a libtorch tensor. It owns the handle: Close frees it.
// Several handles can refer to the same storage (a module's parameter and the
// handle that Parameters returned, say); closing one never invalidates the
// others, nor the autograd graph that still needs the data.
//
// A Tensor is not safe for concurrent use.
type Tensor struct {
	h C.tt_tensor
}

var (
	liveTensors      atomic.Int64
	finalizedTensors atomic.Int64
)

// LiveTensors is the number of tensor handles open right now: made and not
// yet closed (nor freed by the finalizer). A training step that frees what it
// makes leaves it unchanged.
func LiveTensors() int64 { return liveTensors.Load() }

// FinalizedTensors counts handles that were never closed and were freed by
// the garbage collector instead. In correct code it stays 0; a rising count
// is a leak that the safety net caught.
func FinalizedTensors() int64 { return finalizedTensors.Load() }

func newTensor(h C.tt_tensor) *Tensor {
	t := &Tensor{h: h}
	liveTensors.Add(1)
	runtime.SetFinalizer(t, (*Tensor).finalize)
	return t
}

func (t *Tensor) finalize() {
	if t.h != nil {
		finalizedTensors.Add(1)
		t.Close()
	}
}

// Close frees the handle. It is safe to call more than once, and on nil.
func (t *Tensor) Close() {
	if t == nil || t.h == nil {
		return
	}
	C.tt_tensor_free(t.h)
	t.h = nil
	liveTensors.Add(-1)
	runtime.SetFinalizer(t, nil)
}

// handle returns the libtorch handle, or ErrClosed.
func (t *Tensor) handle() (C.tt_tensor, error) {
	if t == nil || t.h == nil {
		return nil, ErrClosed
	}
	return t.h, nil
}

// FromSlice copies data into a new CPU tensor of the given shape. The number
// of elements must equal the product of the shape (a scalar has no shape).
func FromSlice[E Element](data []E, shape ...int64) (*Tensor, error) {
	return FromSliceOn(data, CPU, shape...)
}

// FromSliceOn copies data into a new tensor on device d. On a GPU the data
// passes through pinned host memory and the copy is queued without waiting
// for it (libtorch keeps the pinned block until the copy is done), so a
// training loop can prepare the next batch while the GPU works.
func FromSliceOn[E Element](data []E, d Device, shape ...int64) (*Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("torch: from slice: negative dimension in shape %v", shape)
		}
		n *= d
	}
	if int64(len(data)) != n {
		return nil, fmt.Errorf("torch: from slice: %d values do not fill shape %v (%d elements)", len(data), shape, n)
	}
	var ptr unsafe.Pointer
	if len(data) > 0 {
		ptr = unsafe.Pointer(&data[0])
	}
	var out C.tt_tensor
	err := check("from slice", C.tt_tensor_from_data_on(ptr, C.int(dtypeOf[E]()), shapePtr(shape), C.int(len(shape)),
		C.int(d.Type), C.int(d.Index), &out))
	runtime.KeepAlive(data)
	if err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// Zeros makes a CPU tensor of zeros.
func Zeros(dtype DType, shape ...int64) (*Tensor, error) {
	var out C.tt_tensor
	if err := check("zeros", C.tt_tensor_zeros(shapePtr(shape), C.int(len(shape)), C.int(dtype), &out)); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

func shapePtr(shape []int64) *C.int64_t {
	if len(shape) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0]))
}

// values copies the tensor's elements, converted to E, to a new slice.
func values[E Element](t *Tensor) ([]E, error) {
	h, err := t.handle()
	if err != nil {
		return nil, err
	}
	out := make([]E, C.tt_tensor_numel(h))
	var ptr unsafe.Pointer
	if len(out) > 0 {
		ptr = unsafe.Pointer(&out[0])
	}
	err = check("copy to slice", C.tt_tensor_copy_to(h, C.int(dtypeOf[E]()), ptr, C.int64_t(len(out))))
	runtime.KeepAlive(t)
	return out, err
}

// Float32s returns the elements as float32, in row-major order.
func (t *Tensor) Float32s() ([]float32, error) { return values[float32](t) }

// Float64s returns the elements as float64, in row-major order.
func (t *Tensor) Float64s() ([]float64, error) { return values[float64](t) }

// Int64s returns the elements as int64, in row-major order.
func (t *Tensor) Int64s() ([]int64, error) { return values[int64](t) }

// Uint8s returns the elements as uint8, in row-major order.
func (t *Tensor) Uint8s() ([]uint8, error) { return values[uint8](t) }

// CopyFrom overwrites the tensor's elements in place with data (converted to
// the tensor's type), outside autograd. len(data) must equal NumEl. A GPU
// tensor is written through pinned memory, and the call does not wait for
// the copy.
func CopyFrom[E Element](t *Tensor, data []E) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	var ptr unsafe.Pointer
	if len(data) > 0 {
		ptr = unsafe.Pointer(&data[0])
	}
	err = check("copy from slice", C.tt_tensor_copy_from(h, ptr, C.int(dtypeOf[E]()), C.int64_t(len(data))))
	runtime.KeepAlive(data)
	runtime.KeepAlive(t)
	return err
}

// Fill sets every element of t to v, in place, outside autograd. On a GPU it
// queues the work and does not wait.
func (t *Tensor) Fill(v float64) error {
	return t.call("fill", func(h C.tt_tensor) C.tt_error { return C.tt_tensor_fill(h, C.double(v)) })
}

// Assign copies src's values into t in place, outside autograd. The shapes
// must match; src may differ in device and type.
func (t *Tensor) Assign(src *Tensor) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	s, err := src.handle()
	if err != nil {
		return err
	}
	err = check("assign", C.tt_tensor_assign(h, s))
	runtime.KeepAlive(t)
	runtime.KeepAlive(src)
	return err
}

// Shape returns the sizes of the tensor's dimensions (nil once closed).
func (t *Tensor) Shape() []int64 {
	if t == nil || t.h == nil {
		return nil
	}
	shape := make([]int64, C.tt_tensor_dim(t.h))
	if len(shape) > 0 {
		C.tt_tensor_shape(t.h, (*C.int64_t)(unsafe.Pointer(&shape[0])))
	}
	runtime.KeepAlive(t)
	return shape
}

// NumEl is the number of elements (0 once closed).
func (t *Tensor) NumEl() int64 {
	if t == nil || t.h == nil {
		return 0
	}
	n := int64(C.tt_tensor_numel(t.h))
	runtime.KeepAlive(t)
	return n
}

// DType is the element type.
func (t *Tensor) DType() DType {
	if t == nil || t.h == nil {
		return -1
	}
	d := DType(C.tt_tensor_dtype(t.h))
	runtime.KeepAlive(t)
	return d
}

// Device is where the tensor lives.
func (t *Tensor) Device() Device {
	if t == nil || t.h == nil {
		return Device{}
	}
	var typ, idx C.int
	C.tt_tensor_device(t.h, &typ, &idx)
	runtime.KeepAlive(t)
	return Device{Type: DeviceType(typ), Index: int(idx)}
}

// String describes the tensor: its type, shape and device.
func (t *Tensor) String() string {
	if t == nil || t.h == nil {
		return "Tensor(closed)"
	}
	return fmt.Sprintf("Tensor(%s %v %s)", t.DType(), t.Shape(), t.Device())
}

// Item returns the value of a one-element tensor.
func (t *Tensor) Item() (float64, error) {
	h, err := t.handle()
	if err != nil {
		return 0, err
	}
	var v C.double
	err = check("item", C.tt_tensor_item(h, &v))
	runtime.KeepAlive(t)
	return float64(v), err
}

// call runs a shim call on t that makes nothing.
func (t *Tensor) call(op string, f func(C.tt_tensor) C.tt_error) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	err = check(op, f(h))
	runtime.KeepAlive(t)
	return err
}

// unary runs a shim call that makes one tensor from t.
func (t *Tensor) unary(op string, f func(C.tt_tensor, *C.tt_tensor) C.tt_error) (*Tensor, error) {
	h, err := t.handle()
	if err != nil {
		return nil, fmt.Errorf("torch: %s: %w", op, err)
	}
	var out C.tt_tensor
	err = check(op, f(h, &out))
	runtime.KeepAlive(t)
	if err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// binary runs a shim call that makes one tensor from a and b.
func binary(op string, a, b *Tensor, f func(C.tt_tensor, C.tt_tensor, *C.tt_tensor) C.tt_error) (*Tensor, error) {
	ha, err := a.handle()
	if err != nil {
		return nil, fmt.Errorf("torch: %s: %w", op, err)
	}
	hb, err := b.handle()
	if err != nil {
		return nil, fmt.Errorf("torch: %s: %w", op, err)
	}
	var out C.tt_tensor
	err = check(op, f(ha, hb, &out))
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	if err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// To returns the tensor on another device (a new handle; the same data when
// it is already there).
func (t *Tensor) To(d Device) (*Tensor, error) {
	return t.unary("to "+d.String(), func(h C.tt_tensor, out *C.tt_tensor) C.tt_error {
		return C.tt_tensor_to(h, C.int(d.Type), C.int(d.Index), -1, out)
	})
}

// ToDType returns the tensor converted to another element type.
func (t *Tensor) ToDType(dt DType) (*Tensor, error) {
	dev := t.Device()
	return t.unary("to "+dt.String(), func(h C.tt_tensor, out *C.tt_tensor) C.tt_error {
		return C.tt_tensor_to(h, C.int(dev.Type), C.int(dev.Index), C.int(dt), out)
	})
}

// Clone returns a copy of the data, detached from autograd.
func (t *Tensor) Clone() (*Tensor, error) {
	return t.unary("clone", func(h C.tt_tensor, out *C.tt_tensor) C.tt_error { return C.tt_tensor_clone(h, out) })
}

// RequiresGrad reports whether autograd tracks this tensor.
func (t *Tensor) RequiresGrad() bool {
	if t == nil || t.h == nil {
		return false
	}
	r := C.tt_tensor_requires_grad(t.h) != 0
	runtime.KeepAlive(t)
	return r
}

// SetRequiresGrad turns autograd tracking on or off for a leaf tensor.
func (t *Tensor) SetRequiresGrad(on bool) error {
	return t.call("set_requires_grad", func(h C.tt_tensor) C.tt_error { return C.tt_tensor_set_requires_grad(h, cbool(on)) })
}

// Grad returns the gradient accumulated by Backward, or nil when there is
// none. The caller closes it.
func (t *Tensor) Grad() (*Tensor, error) {
	h, err := t.handle()
	if err != nil {
		return nil, err
	}
	var out C.tt_tensor
	err = check("grad", C.tt_tensor_grad(h, &out))
	runtime.KeepAlive(t)
	if err != nil || out == nil {
		return nil, err
	}
	return newTensor(out), nil
}

// Backward computes the gradients of this one-element tensor with respect to
// the leaves of its graph.
func (t *Tensor) Backward() error {
	return t.call("backward", func(h C.tt_tensor) C.tt_error { return C.tt_tensor_backward(h) })
}

// Argmax returns the indices of the largest values along dim.
func (t *Tensor) Argmax(dim int, keepdim bool) (*Tensor, error) {
	return t.unary("argmax", func(h C.tt_tensor, out *C.tt_tensor) C.tt_error {
		return C.tt_argmax(h, C.int64_t(dim), cbool(keepdim), out)
	})
}

// Eq compares element-wise and returns a bool tensor.
func (t *Tensor) Eq(other *Tensor) (*Tensor, error) {
	return binary("eq", t, other, func(a, b C.tt_tensor, out *C.tt_tensor) C.tt_error { return C.tt_eq(a, b, out) })
}

// Sum adds all elements (bool and integer tensors sum to int64).
func (t *Tensor) Sum() (*Tensor, error) {
	return t.unary("sum", func(h C.tt_tensor, out *C.tt_tensor) C.tt_error { return C.tt_sum(h, out) })
}

// Mean averages all elements.
func (t *Tensor) Mean() (*Tensor, error) {
	return t.unary("mean", func(h C.tt_tensor, out *C.tt_tensor) C.tt_error { return C.tt_mean(h, out) })
}

// Reduction says how a loss combines its per-sample values.
type Reduction int

// Reductions, with libtorch's numbering.
const (
	ReduceNone Reduction = 0
	ReduceMean Reduction = 1
	ReduceSum  Reduction = 2
)

// NLLLoss is the negative log-likelihood loss of log-probabilities logp [N,C]
// against int64 class indices target [N].
func NLLLoss(logp, target *Tensor, r Reduction) (*Tensor, error) {
	return binary("nll_loss", logp, target, func(a, b C.tt_tensor, out *C.tt_tensor) C.tt_error {
		return C.tt_nll_loss(a, b, C.int(r), out)
	})
}

// NLLLossSmoothed is NLLLoss with label smoothing eps: each sample's loss
// is (1-eps)·NLL + eps·(the mean of -logp over the C classes), the target
// spread as PyTorch's cross_entropy(..., label_smoothing=eps) spreads it.
// eps 0 gives NLLLoss.
func NLLLossSmoothed(logp, target *Tensor, eps float64, r Reduction) (*Tensor, error) {
	return binary("nll_loss", logp, target, func(a, b C.tt_tensor, out *C.tt_tensor) C.tt_error {
		return C.tt_nll_loss_smoothed(a, b, C.double(eps), C.int(r), out)
	})
}

// CrossEntropy is log-softmax followed by NLLLoss, on raw scores [N,C].
func CrossEntropy(logits, target *Tensor, r Reduction) (*Tensor, error) {
	return binary("cross_entropy", logits, target, func(a, b C.tt_tensor, out *C.tt_tensor) C.tt_error {
		return C.tt_cross_entropy(a, b, C.int(r), out)
	})
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
