// Package nn builds neural networks out of libtorch modules.
//
// A network is described with layer specs, plain Go values that read like
// PyTorch's constructors, and built into native libtorch modules:
//
//	net, err := nn.NewSequential(
//		nn.Conv2d{In: 1, Out: 8, Kernel: 3, Padding: 1},
//		nn.BatchNorm2d{Features: 8},
//		nn.ReLU{},
//		nn.MaxPool2d{Kernel: 2},
//		nn.Conv2d{In: 8, Out: 10, Kernel: 3},
//		nn.AdaptiveAvgPool2d{Size: 1},
//		nn.Flatten{},
//		nn.LogSoftmax{Dim: 1},
//	)
//
// The convolution, batch norm and dropout kernels run in libtorch; Go holds
// the structure, the names (PyTorch's, "0.weight", "1.running_mean"), the
// state dict and the train/eval switch. Zero values of a spec's fields mean
// PyTorch's defaults where PyTorch has one.
package nn

import (
	"fmt"

	"github.com/tinydigits/tinydigits/torch"
)

// Spec describes one layer. Build it with New, or list specs in
// NewSequential.
type Spec interface {
	// String is the layer as PyTorch prints it, e.g.
	// "Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))".
	String() string
	build() (*torch.Module, error)
}

// Conv2d is a 2-D convolution with square kernels (torch.nn.Conv2d).
// Stride 0 means 1. Groups splits the channels into that many independent
// convolutions (0 means 1; Groups = In = Out is a depthwise convolution); it
// must divide In and Out. NoBias leaves out the bias (bias=False).
type Conv2d struct {
	In, Out, Kernel, Stride, Padding, Groups int
	NoBias                                   bool
}

func (c Conv2d) stride() int { return or(c.Stride, 1) }
func (c Conv2d) groups() int { return or(c.Groups, 1) }

func (c Conv2d) String() string {
	s := fmt.Sprintf("Conv2d(%d, %d, kernel_size=(%d, %d), stride=(%d, %d)", c.In, c.Out, c.Kernel, c.Kernel, c.stride(), c.stride())
	if c.Padding != 0 {
		s += fmt.Sprintf(", padding=(%d, %d)", c.Padding, c.Padding)
	}
	if c.groups() != 1 {
		s += fmt.Sprintf(", groups=%d", c.groups())
	}
	if c.NoBias {
		s += ", bias=False"
	}
	return s + ")"
}

func (c Conv2d) build() (*torch.Module, error) {
	if c.In < 1 || c.Out < 1 || c.Kernel < 1 || c.Stride < 0 || c.Padding < 0 || c.Groups < 0 {
		return nil, fmt.Errorf("nn: %v: channels and kernel must be positive, stride, padding and groups not negative", c)
	}
	if c.In%c.groups() != 0 || c.Out%c.groups() != 0 {
		return nil, fmt.Errorf("nn: %v: groups must divide the input and output channels", c)
	}
	return torch.NewConv2d(c.In, c.Out, c.Kernel, c.stride(), c.Padding, c.groups(), !c.NoBias)
}

// BatchNorm2d normalises each channel over the batch (torch.nn.BatchNorm2d).
// Eps 0 means 1e-5 and Momentum 0 means 0.1, PyTorch's defaults. NoAffine
// leaves out the learnable scale and shift (affine=False).
type BatchNorm2d struct {
	Features      int
	Eps, Momentum float64
	NoAffine      bool
}

func (b BatchNorm2d) eps() float64      { return orf(b.Eps, 1e-5) }
func (b BatchNorm2d) momentum() float64 { return orf(b.Momentum, 0.1) }

func (b BatchNorm2d) String() string {
	return fmt.Sprintf("BatchNorm2d(%d, eps=%g, momentum=%g, affine=%s, track_running_stats=True)",
		b.Features, b.eps(), b.momentum(), pyBool(!b.NoAffine))
}

func (b BatchNorm2d) build() (*torch.Module, error) {
	if b.Features < 1 || b.Eps < 0 || b.Momentum < 0 || b.Momentum > 1 {
		return nil, fmt.Errorf("nn: %v: features must be positive, eps ≥ 0, momentum in [0, 1]", b)
	}
	return torch.NewBatchNorm2d(b.Features, b.eps(), b.momentum(), !b.NoAffine)
}

// Dropout zeroes each element with probability P in training mode and scales
// the rest by 1/(1-P); in eval mode it is the identity (torch.nn.Dropout).
type Dropout struct{ P float64 }

func (d Dropout) String() string { return fmt.Sprintf("Dropout(p=%g, inplace=False)", d.P) }

func (d Dropout) build() (*torch.Module, error) {
	if d.P < 0 || d.P >= 1 {
		return nil, fmt.Errorf("nn: %v: p must be in [0, 1)", d)
	}
	return torch.NewDropout(d.P)
}

// Dropout2d zeroes each channel of each image with probability P in
// training mode, and scales the rest by 1/(1-P); in eval mode it is the
// identity (torch.nn.Dropout2d). It takes [N, C, H, W] maps.
type Dropout2d struct{ P float64 }

func (d Dropout2d) String() string { return fmt.Sprintf("Dropout2d(p=%g, inplace=False)", d.P) }

func (d Dropout2d) build() (*torch.Module, error) {
	if d.P < 0 || d.P >= 1 {
		return nil, fmt.Errorf("nn: %v: p must be in [0, 1)", d)
	}
	return torch.NewDropout2d(d.P)
}

// SiLU is x·sigmoid(x) (torch.nn.SiLU, also called swish).
type SiLU struct{}

func (SiLU) String() string                { return "SiLU()" }
func (SiLU) build() (*torch.Module, error) { return torch.NewSiLU() }

// GELU is x·Φ(x), Φ the standard normal's distribution function
// (torch.nn.GELU); Tanh uses its tanh approximation (approximate='tanh').
type GELU struct{ Tanh bool }

func (g GELU) String() string {
	if g.Tanh {
		return "GELU(approximate='tanh')"
	}
	return "GELU(approximate='none')"
}

func (g GELU) build() (*torch.Module, error) { return torch.NewGELU(g.Tanh) }

// ReLU is max(0, x) (torch.nn.ReLU). Inplace overwrites its input instead
// of allocating an output, which is safe after a layer whose backward does
// not need its own output (BatchNorm, a convolution) and saves an
// activation's memory and allocation.
type ReLU struct{ Inplace bool }

func (r ReLU) String() string {
	if r.Inplace {
		return "ReLU(inplace=True)"
	}
	return "ReLU()"
}

func (r ReLU) build() (*torch.Module, error) { return torch.NewReLU(r.Inplace) }

// MaxPool2d takes the maximum over square windows (torch.nn.MaxPool2d).
// Stride 0 means Kernel, PyTorch's default.
type MaxPool2d struct{ Kernel, Stride int }

func (p MaxPool2d) String() string {
	return fmt.Sprintf("MaxPool2d(kernel_size=%d, stride=%d, padding=0, dilation=1, ceil_mode=False)", p.Kernel, or(p.Stride, p.Kernel))
}

func (p MaxPool2d) build() (*torch.Module, error) {
	return buildPool(p, p.Kernel, p.Stride, torch.NewMaxPool2d)
}

// AvgPool2d averages over square windows (torch.nn.AvgPool2d). Stride 0
// means Kernel. Over the whole feature map it is global average pooling.
type AvgPool2d struct{ Kernel, Stride int }

func (p AvgPool2d) String() string {
	return fmt.Sprintf("AvgPool2d(kernel_size=%d, stride=%d, padding=0)", p.Kernel, or(p.Stride, p.Kernel))
}

func (p AvgPool2d) build() (*torch.Module, error) {
	return buildPool(p, p.Kernel, p.Stride, torch.NewAvgPool2d)
}

// AdaptiveAvgPool2d averages each channel down to Size×Size
// (torch.nn.AdaptiveAvgPool2d). Size 1 is global average pooling (GAP).
type AdaptiveAvgPool2d struct{ Size int }

func (p AdaptiveAvgPool2d) String() string {
	return fmt.Sprintf("AdaptiveAvgPool2d(output_size=%d)", p.Size)
}

func (p AdaptiveAvgPool2d) build() (*torch.Module, error) {
	if p.Size < 1 {
		return nil, fmt.Errorf("nn: %v: output size must be positive", p)
	}
	return torch.NewAdaptiveAvgPool2d(p.Size, p.Size)
}

// Linear is y = xWᵀ + b (torch.nn.Linear). NoBias leaves out b.
type Linear struct {
	In, Out int
	NoBias  bool
}

func (l Linear) String() string {
	return fmt.Sprintf("Linear(in_features=%d, out_features=%d, bias=%s)", l.In, l.Out, pyBool(!l.NoBias))
}

func (l Linear) build() (*torch.Module, error) {
	if l.In < 1 || l.Out < 1 {
		return nil, fmt.Errorf("nn: %v: features must be positive", l)
	}
	return torch.NewLinear(l.In, l.Out, !l.NoBias)
}

// Flatten folds all dimensions but the batch into one (torch.nn.Flatten with
// its defaults, start_dim=1, end_dim=-1).
type Flatten struct{}

func (Flatten) String() string                { return "Flatten(start_dim=1, end_dim=-1)" }
func (Flatten) build() (*torch.Module, error) { return torch.NewFlatten(1, -1) }

// LogSoftmax is log(softmax(x)) along Dim (torch.nn.LogSoftmax); Dim 1 for
// [N, classes] scores.
type LogSoftmax struct{ Dim int }

func (l LogSoftmax) String() string                { return fmt.Sprintf("LogSoftmax(dim=%d)", l.Dim) }
func (l LogSoftmax) build() (*torch.Module, error) { return torch.NewLogSoftmax(l.Dim) }

// buildPool checks a pooling layer's window and makes its module; stride 0
// is the kernel.
func buildPool(p fmt.Stringer, kernel, stride int, make func(kernel, stride int) (*torch.Module, error)) (*torch.Module, error) {
	if kernel < 1 || stride < 0 {
		return nil, fmt.Errorf("nn: %v: kernel must be positive", p)
	}
	return make(kernel, or(stride, kernel))
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orf(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
