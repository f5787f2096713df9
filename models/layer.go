package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/tinydigits/tinydigits/torch/nn"
)

// Layer is one layer of an arch file, as a person writes it: the PyTorch
// class name and the options PyTorch users know, with the input size left
// out (it comes from the layer before, as in Keras and Flax). Zero values
// mean PyTorch's defaults; Bias and Affine default to true.
//
//	{"type": "Conv2d", "out": 14, "kernel": 3, "padding": 1, "bias": false}
//	{"type": "BatchNorm2d"}
//	{"type": "ReLU", "inplace": true}
//	{"type": "Dropout", "p": 0.05}
//	{"type": "MaxPool2d", "kernel": 2}
//	{"type": "AdaptiveAvgPool2d", "size": 1}
//	{"type": "Flatten"}
//	{"type": "LogSoftmax", "dim": 1}
type Layer struct {
	Type string
	// In (Conv2d, Linear) and Features (BatchNorm2d) may be given; they
	// must then match what the layer before produces.
	In, Out, Kernel, Stride, Padding, Groups int
	Features                                 int
	Bias, Affine                             *bool
	Eps, Momentum                            float64 // BatchNorm2d
	P                                        float64 // Dropout
	Inplace                                  bool    // ReLU
	Size                                     int     // AdaptiveAvgPool2d
	Dim                                      int     // LogSoftmax
}

// layerTypes lists each layer type's options, in the order an exported
// file writes them.
var layerTypes = map[string][]string{
	"Conv2d":            {"in", "out", "kernel", "stride", "padding", "groups", "bias"},
	"BatchNorm2d":       {"features", "eps", "momentum", "affine"},
	"ReLU":              {"inplace"},
	"Dropout":           {"p"},
	"MaxPool2d":         {"kernel", "stride"},
	"AvgPool2d":         {"kernel", "stride"},
	"AdaptiveAvgPool2d": {"size"},
	"Flatten":           {},
	"Linear":            {"in", "out", "bias"},
	"LogSoftmax":        {"dim"},
}

// LayerTypes lists the layer types an arch file may use.
func LayerTypes() []string {
	names := make([]string, 0, len(layerTypes))
	for n := range layerTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// canonicalType finds a layer type by name, ignoring case.
func canonicalType(t string) (string, bool) {
	for name := range layerTypes {
		if strings.EqualFold(name, t) {
			return name, true
		}
	}
	return "", false
}

// layerJSON is the wire form; pointers tell "left out" from zero.
type layerJSON struct {
	Type     string   `json:"type"`
	In       *int     `json:"in,omitempty"`
	Out      *int     `json:"out,omitempty"`
	Kernel   *int     `json:"kernel,omitempty"`
	Stride   *int     `json:"stride,omitempty"`
	Padding  *int     `json:"padding,omitempty"`
	Groups   *int     `json:"groups,omitempty"`
	Features *int     `json:"features,omitempty"`
	Bias     *bool    `json:"bias,omitempty"`
	Affine   *bool    `json:"affine,omitempty"`
	Eps      *float64 `json:"eps,omitempty"`
	Momentum *float64 `json:"momentum,omitempty"`
	P        *float64 `json:"p,omitempty"`
	Inplace  *bool    `json:"inplace,omitempty"`
	Size     *int     `json:"size,omitempty"`
	Dim      *int     `json:"dim,omitempty"`
}

// UnmarshalJSON reads a layer, refusing unknown types and options that the
// type does not have.
func (l *Layer) UnmarshalJSON(data []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil || keys == nil {
		return fmt.Errorf("a layer must be a JSON object")
	}
	rawType, ok := keys["type"]
	if !ok {
		return fmt.Errorf("missing \"type\" (one of %s)", strings.Join(LayerTypes(), ", "))
	}
	var typ string
	if err := json.Unmarshal(rawType, &typ); err != nil {
		return fmt.Errorf("\"type\" must be a string")
	}
	name, ok := canonicalType(typ)
	if !ok {
		return fmt.Errorf("unknown layer type %q (known: %s)", typ, strings.Join(LayerTypes(), ", "))
	}
	for k := range keys {
		if k != "type" && !slices.Contains(layerTypes[name], k) {
			known := "none"
			if len(layerTypes[name]) > 0 {
				known = strings.Join(layerTypes[name], ", ")
			}
			return fmt.Errorf("%s: unknown option %q (known: %s)", name, k, known)
		}
	}
	var w layerJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: option %q must be a %s, not a JSON %s", name, te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("%s: %v", name, err)
	}
	*l = Layer{Type: name}
	// true is the default: kept as nil, so equal layers are equal values.
	if w.Bias != nil && !*w.Bias {
		l.Bias = w.Bias
	}
	if w.Affine != nil && !*w.Affine {
		l.Affine = w.Affine
	}
	ints := []struct {
		dst *int
		src *int
	}{{&l.In, w.In}, {&l.Out, w.Out}, {&l.Kernel, w.Kernel}, {&l.Stride, w.Stride}, {&l.Padding, w.Padding},
		{&l.Groups, w.Groups}, {&l.Features, w.Features}, {&l.Size, w.Size}, {&l.Dim, w.Dim}}
	for _, f := range ints {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	for _, f := range []struct {
		dst *float64
		src *float64
	}{{&l.Eps, w.Eps}, {&l.Momentum, w.Momentum}, {&l.P, w.P}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if w.Inplace != nil {
		l.Inplace = *w.Inplace
	}
	if name == "LogSoftmax" && w.Dim == nil {
		l.Dim = 1 // over the classes, the only dim a net here can use
	}
	return nil
}

// MarshalJSON writes the layer with its type first and, of its options,
// those a reader needs (out, kernel, p, size, dim) and those that differ
// from PyTorch's defaults.
func (l Layer) MarshalJSON() ([]byte, error) {
	values := map[string]any{"in": l.In, "out": l.Out, "kernel": l.Kernel, "stride": l.Stride, "padding": l.Padding,
		"groups": l.Groups, "features": l.Features, "bias": isTrue(l.Bias), "affine": isTrue(l.Affine), "eps": l.Eps,
		"momentum": l.Momentum, "p": l.P, "inplace": l.Inplace, "size": l.Size, "dim": l.Dim}
	always := map[string]bool{"out": true, "kernel": true, "p": true, "size": true, "dim": true}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\"type\": %q", l.Type)
	for _, k := range layerTypes[l.Type] {
		v := values[k]
		var isDefault bool
		switch k {
		case "bias", "affine": // true unless said otherwise
			isDefault = v == true
		case "groups":
			isDefault = l.Groups <= 1
		default:
			isDefault = reflect.ValueOf(v).IsZero()
		}
		if always[k] || !isDefault {
			js, _ := json.Marshal(v)
			fmt.Fprintf(&b, ", %q: %s", k, js)
		}
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

func isTrue(b *bool) bool { return b == nil || *b }

// spec is the layer as the binding's spec, with the input size in.
func (l Layer) spec(in int) nn.Spec {
	switch l.Type {
	case "Conv2d":
		return nn.Conv2d{In: in, Out: l.Out, Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding, Groups: l.Groups, NoBias: !isTrue(l.Bias)}
	case "BatchNorm2d":
		return nn.BatchNorm2d{Features: in, Eps: l.Eps, Momentum: l.Momentum, NoAffine: !isTrue(l.Affine)}
	case "ReLU":
		return nn.ReLU{Inplace: l.Inplace}
	case "Dropout":
		return nn.Dropout{P: l.P}
	case "MaxPool2d":
		return nn.MaxPool2d{Kernel: l.Kernel, Stride: l.Stride}
	case "AvgPool2d":
		return nn.AvgPool2d{Kernel: l.Kernel, Stride: l.Stride}
	case "AdaptiveAvgPool2d":
		return nn.AdaptiveAvgPool2d{Size: l.Size}
	case "Flatten":
		return nn.Flatten{}
	case "Linear":
		return nn.Linear{In: in, Out: l.Out, NoBias: !isTrue(l.Bias)}
	case "LogSoftmax":
		return nn.LogSoftmax{Dim: l.Dim}
	}
	return nil
}
