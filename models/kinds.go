package models

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tinydigits/tinydigits/torch/nn"
)

// A kind is one layer type, and everything this package knows of it: its
// options as an arch file writes them, how it turns its input's shape into
// its output's (checking its options on the way), how many parameters it
// has, and the binding's spec that builds it. Plan, reading and writing
// arch files, their canonical form and the specs all come from the table
// of kinds below; the tests enumerate it. Adding a layer type is one entry
// here, plus its spec in torch/nn and its C function in the shim.
type kind struct {
	name    string
	options []option
	// input is what the layer takes: a C×H×W map (spatial), a flat
	// vector (flat) or either.
	input inputKind
	// plan works out the layer on an input of shape in: its output shape,
	// its learnable parameters and its spec (input size filled in). Its
	// errors are the layer's, without its index (Plan adds it).
	plan func(l Layer, in shape) (out shape, params int64, spec nn.Spec, err error)
	// example is a layer of the kind for the tests, which build a net
	// around it for every kind in the table.
	example Layer
}

// inputKind is what a layer can take.
type inputKind int

const (
	anyInput     inputKind = iota
	spatialInput           // C×H×W
	flatInput              // features, after a Flatten
)

// shape is the output of a layer for one image: C×H×W, or flat features
// once Flat > 0.
type shape struct{ C, H, W, Flat int }

func (s shape) dims() []int {
	if s.Flat > 0 {
		return []int{s.Flat}
	}
	return []int{s.C, s.H, s.W}
}

func (s shape) values() int64 {
	if s.Flat > 0 {
		return int64(s.Flat)
	}
	return int64(s.C) * int64(s.H) * int64(s.W)
}

// option is one option of a kind: its name in an arch file and the Layer
// field that holds it.
type option struct {
	name  string
	field string // Layer's field
	// always writes the option even at its default: the ones a reader needs
	// to see (out, kernel, p, size, dim).
	always bool
	// def is the default when the option is left out, where it is not the
	// field's zero value: written back in when a file leaves it out (dim),
	// and not written out when the value equals it (groups 1).
	def any
	// fill sets def into the layer when the file leaves the option out.
	fill bool
}

// The options the kinds share.
var (
	optIn       = option{name: "in", field: "In"}
	optOut      = option{name: "out", field: "Out", always: true}
	optKernel   = option{name: "kernel", field: "Kernel", always: true}
	optStride   = option{name: "stride", field: "Stride"}
	optPadding  = option{name: "padding", field: "Padding"}
	optGroups   = option{name: "groups", field: "Groups", def: 1}
	optFeatures = option{name: "features", field: "Features"}
	optBias     = option{name: "bias", field: "Bias"}
	optAffine   = option{name: "affine", field: "Affine"}
	optEps      = option{name: "eps", field: "Eps"}
	optMomentum = option{name: "momentum", field: "Momentum"}
	optP        = option{name: "p", field: "P", always: true}
	optInplace  = option{name: "inplace", field: "Inplace"}
	optSize     = option{name: "size", field: "Size", always: true}
	optDim      = option{name: "dim", field: "Dim", always: true, def: 1, fill: true}
	optApprox   = option{name: "approximate", field: "Approximate", def: "none"}
)

// kinds is the table of layer types, by PyTorch's class name.
var kinds = map[string]*kind{}

func init() {
	f := false
	for _, k := range []*kind{
		{name: "Conv2d", options: []option{optIn, optOut, optKernel, optStride, optPadding, optGroups, optBias},
			input: spatialInput, plan: planConv2d,
			example: Layer{Type: "Conv2d", Out: 8, Kernel: 3, Stride: 2, Padding: 1, Groups: 2, Bias: &f}},
		{name: "BatchNorm2d", options: []option{optFeatures, optEps, optMomentum, optAffine},
			input: spatialInput, plan: planBatchNorm2d,
			example: Layer{Type: "BatchNorm2d", Momentum: 0.01, Affine: &f}},
		{name: "ReLU", options: []option{optInplace}, plan: passThrough(func(l Layer) nn.Spec { return nn.ReLU{Inplace: l.Inplace} }),
			example: Layer{Type: "ReLU", Inplace: true}},
		{name: "SiLU", plan: passThrough(func(Layer) nn.Spec { return nn.SiLU{} }),
			example: Layer{Type: "SiLU"}},
		{name: "GELU", options: []option{optApprox}, plan: planGELU,
			example: Layer{Type: "GELU", Approximate: "tanh"}},
		{name: "Dropout", options: []option{optP}, plan: planDropout(func(p float64) nn.Spec { return nn.Dropout{P: p} }),
			example: Layer{Type: "Dropout", P: 0.1}},
		{name: "Dropout2d", options: []option{optP}, input: spatialInput, plan: planDropout(func(p float64) nn.Spec { return nn.Dropout2d{P: p} }),
			example: Layer{Type: "Dropout2d", P: 0.2}},
		{name: "MaxPool2d", options: []option{optKernel, optStride}, input: spatialInput,
			plan:    planPool(func(k, s int) nn.Spec { return nn.MaxPool2d{Kernel: k, Stride: s} }),
			example: Layer{Type: "MaxPool2d", Kernel: 2, Stride: 1}},
		{name: "AvgPool2d", options: []option{optKernel, optStride}, input: spatialInput,
			plan:    planPool(func(k, s int) nn.Spec { return nn.AvgPool2d{Kernel: k, Stride: s} }),
			example: Layer{Type: "AvgPool2d", Kernel: 3, Stride: 2}},
		{name: "AdaptiveAvgPool2d", options: []option{optSize}, input: spatialInput, plan: planAdaptiveAvgPool2d,
			example: Layer{Type: "AdaptiveAvgPool2d", Size: 2}},
		{name: "Flatten", plan: planFlatten,
			example: Layer{Type: "Flatten"}},
		{name: "Linear", options: []option{optIn, optOut, optBias}, input: flatInput, plan: planLinear,
			example: Layer{Type: "Linear", Out: 12}},
		{name: "LogSoftmax", options: []option{optDim}, plan: planLogSoftmax,
			example: Layer{Type: "LogSoftmax", Dim: 1}},
	} {
		kinds[k.name] = k
	}
}

// LayerTypes lists the layer types an arch file may use.
func LayerTypes() []string {
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// kindOf finds a layer type by name, ignoring case.
func kindOf(t string) (*kind, bool) {
	if k, ok := kinds[t]; ok {
		return k, true
	}
	for name, k := range kinds {
		if strings.EqualFold(name, t) {
			return k, true
		}
	}
	return nil, false
}

// option finds one of the kind's options by its name in a file.
func (k *kind) option(name string) (option, bool) {
	for _, o := range k.options {
		if o.name == name {
			return o, true
		}
	}
	return option{}, false
}

func (k *kind) optionNames() []string {
	names := make([]string, len(k.options))
	for i, o := range k.options {
		names[i] = o.name
	}
	return names
}

// KindExamples is, for every layer type, a net around one layer of it
// that Plan accepts: a convolution before a layer that takes a C×H×W map,
// a Flatten before one that takes a flat vector, and the head after it.
// Tests build these to check every type against libtorch and PyTorch.
func KindExamples() []Arch {
	var out []Arch
	for _, name := range LayerTypes() {
		k := kinds[name]
		layers := []Layer{{Type: "Conv2d", Out: 4, Kernel: 3, Padding: 1}}
		if k.input == flatInput {
			layers = append(layers, Layer{Type: "AdaptiveAvgPool2d", Size: 2}, Layer{Type: "Flatten"})
		}
		layers = append(layers, k.example)
		switch {
		case name == "LogSoftmax":
			layers = append([]Layer{{Type: "Conv2d", Out: 10, Kernel: 3, Padding: 1}, {Type: "AdaptiveAvgPool2d", Size: 1}, {Type: "Flatten"}}, k.example)
		case k.input == flatInput || name == "Flatten":
			layers = append(layers, Layer{Type: "Linear", Out: Classes}, Layer{Type: "LogSoftmax", Dim: 1})
		default:
			layers = append(layers, Layer{Type: "Conv2d", Out: Classes, Kernel: 1}, Layer{Type: "AdaptiveAvgPool2d", Size: 1},
				Layer{Type: "Flatten"}, Layer{Type: "LogSoftmax", Dim: 1})
		}
		out = append(out, Arch{Name: "with-" + strings.ToLower(name), Description: "a " + name + " layer for the tests",
			Layers: layers, Recipe: Recipe{Epochs: 1, BatchSize: 64, LR: 0.05, Momentum: 0.9, PctStart: DefaultPctStart}})
	}
	return out
}

// The kinds' plans.

func planConv2d(l Layer, in shape) (shape, int64, nn.Spec, error) {
	c, h, w := in.C, in.H, in.W
	groups, stride := max(1, l.Groups), max(1, l.Stride)
	switch {
	case l.In != 0 && l.In != c:
		return in, 0, nil, fmt.Errorf("in is %d, but the layer before gives %d channels", l.In, c)
	case l.Out < 1 || l.Kernel < 1:
		return in, 0, nil, fmt.Errorf("out and kernel must be at least 1, got out %d, kernel %d", l.Out, l.Kernel)
	case l.Stride < 0 || l.Padding < 0 || l.Groups < 0:
		return in, 0, nil, fmt.Errorf("stride, padding and groups must not be negative")
	case c%groups != 0 || l.Out%groups != 0:
		return in, 0, nil, fmt.Errorf("groups %d must divide the %d input and %d output channels", groups, c, l.Out)
	}
	oh, ow := (h+2*l.Padding-l.Kernel)/stride+1, (w+2*l.Padding-l.Kernel)/stride+1
	if h+2*l.Padding < l.Kernel || oh < 1 || ow < 1 {
		return in, 0, nil, fmt.Errorf("a %d×%d input with kernel %d and padding %d leaves no output (the spatial size would shrink below 1)", h, w, l.Kernel, l.Padding)
	}
	params := int64(l.Out) * int64(c/groups) * int64(l.Kernel*l.Kernel)
	if isTrue(l.Bias) {
		params += int64(l.Out)
	}
	spec := nn.Conv2d{In: c, Out: l.Out, Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding, Groups: l.Groups, NoBias: !isTrue(l.Bias)}
	return shape{C: l.Out, H: oh, W: ow}, params, spec, nil
}

func planBatchNorm2d(l Layer, in shape) (shape, int64, nn.Spec, error) {
	switch {
	case l.Features != 0 && l.Features != in.C:
		return in, 0, nil, fmt.Errorf("features is %d, but the layer before gives %d channels", l.Features, in.C)
	case l.Eps < 0 || l.Momentum < 0 || l.Momentum > 1:
		return in, 0, nil, fmt.Errorf("eps must not be negative and momentum must be in [0, 1]")
	}
	var params int64
	if isTrue(l.Affine) {
		params = 2 * int64(in.C)
	}
	return in, params, nn.BatchNorm2d{Features: in.C, Eps: l.Eps, Momentum: l.Momentum, NoAffine: !isTrue(l.Affine)}, nil
}

// passThrough is the plan of a layer that keeps its input's shape and has
// no parameters (an activation).
func passThrough(spec func(Layer) nn.Spec) func(Layer, shape) (shape, int64, nn.Spec, error) {
	return func(l Layer, in shape) (shape, int64, nn.Spec, error) { return in, 0, spec(l), nil }
}

func planGELU(l Layer, in shape) (shape, int64, nn.Spec, error) {
	switch l.Approximate {
	case "", "none", "tanh":
	default:
		return in, 0, nil, fmt.Errorf("approximate must be \"none\" or \"tanh\", got %q", l.Approximate)
	}
	return in, 0, nn.GELU{Tanh: l.Approximate == "tanh"}, nil
}

func planDropout(spec func(p float64) nn.Spec) func(Layer, shape) (shape, int64, nn.Spec, error) {
	return func(l Layer, in shape) (shape, int64, nn.Spec, error) {
		if !(l.P >= 0 && l.P < 1) {
			return in, 0, nil, fmt.Errorf("p must be in [0, 1), got %g", l.P)
		}
		return in, 0, spec(l.P), nil
	}
}

func planPool(spec func(kernel, stride int) nn.Spec) func(Layer, shape) (shape, int64, nn.Spec, error) {
	return func(l Layer, in shape) (shape, int64, nn.Spec, error) {
		if l.Kernel < 1 || l.Stride < 0 {
			return in, 0, nil, fmt.Errorf("kernel must be at least 1 and stride not negative")
		}
		stride := l.Stride
		if stride == 0 {
			stride = l.Kernel
		}
		if in.H < l.Kernel || in.W < l.Kernel {
			return in, 0, nil, fmt.Errorf("a %d×%d input is smaller than the kernel %d (too many pools or convolutions for %d×%d: the spatial size would shrink below 1)", in.H, in.W, l.Kernel, Input[1], Input[2])
		}
		return shape{C: in.C, H: (in.H-l.Kernel)/stride + 1, W: (in.W-l.Kernel)/stride + 1}, 0, spec(l.Kernel, l.Stride), nil
	}
}

func planAdaptiveAvgPool2d(l Layer, in shape) (shape, int64, nn.Spec, error) {
	if l.Size < 1 {
		return in, 0, nil, fmt.Errorf("size must be at least 1, got %d", l.Size)
	}
	return shape{C: in.C, H: l.Size, W: l.Size}, 0, nn.AdaptiveAvgPool2d{Size: l.Size}, nil
}

func planFlatten(_ Layer, in shape) (shape, int64, nn.Spec, error) {
	out := in
	if in.Flat == 0 {
		out = shape{C: in.C, H: in.H, W: in.W, Flat: in.C * in.H * in.W}
	}
	return out, 0, nn.Flatten{}, nil
}

func planLinear(l Layer, in shape) (shape, int64, nn.Spec, error) {
	switch {
	case l.In != 0 && l.In != in.Flat:
		return in, 0, nil, fmt.Errorf("in is %d, but the layer before gives %d features", l.In, in.Flat)
	case l.Out < 1:
		return in, 0, nil, fmt.Errorf("out must be at least 1, got %d", l.Out)
	}
	params := int64(in.Flat) * int64(l.Out)
	if isTrue(l.Bias) {
		params += int64(l.Out)
	}
	return shape{C: in.C, H: in.H, W: in.W, Flat: l.Out}, params, nn.Linear{In: in.Flat, Out: l.Out, NoBias: !isTrue(l.Bias)}, nil
}

func planLogSoftmax(l Layer, in shape) (shape, int64, nn.Spec, error) {
	if l.Dim != 1 {
		return in, 0, nil, fmt.Errorf("dim must be 1 (the classes), got %d", l.Dim)
	}
	return in, 0, nn.LogSoftmax{Dim: l.Dim}, nil
}
