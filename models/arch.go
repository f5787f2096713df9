package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/torch/nn"
)

// Input is the shape of one MNIST image: channels, height, width.
var Input = [3]int{1, mnist.Rows, mnist.Cols}

// Classes is the number of outputs every net ends with: the digits.
const Classes = mnist.Classes

// Limits that keep an arch file from asking for more memory than a machine
// has: far beyond any net this project trains (the largest built-in has
// 40,202 parameters and 25,088 values an image in a layer's output).
const (
	MaxSize        = 1 << 16 // any channel count, kernel, stride, padding or size
	MaxParams      = 1 << 26 // 67 million
	MaxActivations = 1 << 24 // values in one layer's output for one image
)

// Arch is a network and its training recipe: the one value that defines a
// net. It reads and writes as an arch file (JSON, see ParseArch); the
// built-in nets are such files, embedded in the binary.
type Arch struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Layers      []Layer `json:"layers"`
	Recipe      Recipe  `json:"recipe"`
}

// PlanRow is one layer with what its input made of it: the binding's spec
// (input size filled in), the output shape without the batch ([C, H, W] or
// [F]) and the number of learnable parameters.
type PlanRow struct {
	Spec   nn.Spec
	Output []int
	Params int64
}

// Plan is an arch worked out in Go, before libtorch builds anything.
type Plan struct {
	Rows   []PlanRow
	Params int64
}

// layerErr names a layer by its 1-based index and type.
func layerErr(i int, l Layer, format string, args ...any) error {
	return fmt.Errorf("layer %d (%s): %s", i+1, l.Type, fmt.Sprintf(format, args...))
}

// Plan infers every layer's input and output shape from Input and counts
// the parameters, each layer by its kind's rule (kinds.go). It refuses what
// libtorch would refuse or what is not a classifier of MNIST digits:
// options out of range, a channel count that does not fit, a spatial size
// that shrinks below 1, and an output other than [B, 10] log-probabilities.
func (a Arch) Plan() (*Plan, error) {
	if len(a.Layers) == 0 {
		return nil, fmt.Errorf("arch %s has no layers", a.Name)
	}
	p := &Plan{}
	in := shape{C: Input[0], H: Input[1], W: Input[2]}
	for i, l := range a.Layers {
		k, ok := kinds[l.Type]
		if !ok {
			return nil, layerErr(i, l, "unknown layer type (known: %s)", strings.Join(LayerTypes(), ", "))
		}
		if err := checkSizes(l); err != nil {
			return nil, layerErr(i, l, "%v", err)
		}
		switch {
		case k.input == spatialInput && in.Flat > 0:
			return nil, layerErr(i, l, "needs a C×H×W input, but the data was flattened before it")
		case k.input == flatInput && in.Flat == 0:
			return nil, layerErr(i, l, "needs a flat input; put a Flatten before it")
		}
		out, params, spec, err := k.plan(l, in)
		if err != nil {
			return nil, layerErr(i, l, "%v", err)
		}
		if v := out.values(); v > MaxActivations {
			return nil, layerErr(i, l, "its output of %s values an image is too large (at most %s)", Thousands(v), Thousands(MaxActivations))
		}
		if p.Params+params > MaxParams {
			return nil, layerErr(i, l, "the net would have over %s parameters", Thousands(MaxParams))
		}
		p.Rows = append(p.Rows, PlanRow{Spec: spec, Output: out.dims(), Params: params})
		p.Params += params
		in = out
	}
	last := a.Layers[len(a.Layers)-1]
	if final := p.Rows[len(p.Rows)-1].Output; last.Type != "LogSoftmax" || len(final) != 1 || final[0] != Classes {
		return nil, fmt.Errorf("arch %s must end in [B, %d] log-probabilities (a LogSoftmax with dim 1 over %d features), but its last layer is %s with output %s",
			a.Name, Classes, Classes, last.Type, shapeString(final))
	}
	return p, nil
}

// checkSizes refuses an integer option beyond MaxSize, whatever the kind.
func checkSizes(l Layer) error {
	for name, v := range map[string]int{"in": l.In, "out": l.Out, "kernel": l.Kernel, "stride": l.Stride,
		"padding": l.Padding, "groups": l.Groups, "features": l.Features, "size": l.Size} {
		if v > MaxSize || v < -MaxSize {
			return fmt.Errorf("%s %d is out of range (at most %d)", name, v, MaxSize)
		}
	}
	return nil
}

func shapeString(s []int) string {
	parts := []string{"B"}
	for _, d := range s {
		parts = append(parts, fmt.Sprint(d))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Check validates the arch: a name, its layers (Plan) and its recipe.
func (a Arch) Check() error {
	if strings.TrimSpace(a.Name) == "" {
		return errors.New("the arch has no name")
	}
	if _, err := a.Plan(); err != nil {
		return err
	}
	if err := a.Recipe.Check(); err != nil {
		return fmt.Errorf("recipe: %w", err)
	}
	return nil
}

// Params is the number of learnable parameters (0 for an arch that Plan
// refuses).
func (a Arch) Params() int64 {
	p, err := a.Plan()
	if err != nil {
		return 0
	}
	return p.Params
}

// Specs lists the layers as the binding's specs, input sizes filled in.
func (a Arch) Specs() ([]nn.Spec, error) {
	p, err := a.Plan()
	if err != nil {
		return nil, err
	}
	specs := make([]nn.Spec, len(p.Rows))
	for i, r := range p.Rows {
		specs[i] = r.Spec
	}
	return specs, nil
}

// Build makes a fresh network with libtorch's default initialisation (seed
// libtorch first for a reproducible one).
func (a Arch) Build() (*nn.Sequential, error) {
	specs, err := a.Specs()
	if err != nil {
		return nil, err
	}
	net, err := nn.NewSequential(specs...)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", a.Name, err)
	}
	return net, nil
}

// ParseArch reads an arch file. Every problem is one line: invalid JSON
// (with the line), an unknown field, an unknown layer type or option (naming
// the layer), and whatever Check refuses.
func ParseArch(data []byte) (Arch, error) {
	var a Arch
	if len(bytes.TrimSpace(data)) == 0 {
		return a, errors.New("empty file")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return a, jsonErr(data, err)
	}
	for _, k := range []string{"name", "layers", "recipe"} {
		if _, ok := top[k]; !ok {
			return a, fmt.Errorf("missing field %q", k)
		}
	}
	var raw struct {
		Name        string            `json:"name"`
		Description string            `json:"description"`
		Layers      []json.RawMessage `json:"layers"`
		Recipe      json.RawMessage   `json:"recipe"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return a, jsonErr(data, err)
	}
	a.Name, a.Description = raw.Name, raw.Description
	for i, lj := range raw.Layers {
		var l Layer
		if err := l.UnmarshalJSON(lj); err != nil {
			return a, fmt.Errorf("layer %d: %v", i+1, err)
		}
		a.Layers = append(a.Layers, l)
	}
	rdec := json.NewDecoder(bytes.NewReader(raw.Recipe))
	rdec.DisallowUnknownFields()
	if err := rdec.Decode(&a.Recipe); err != nil {
		return a, fmt.Errorf("recipe: %v", jsonErr(raw.Recipe, err))
	}
	a.Recipe = a.Recipe.WithDefaults()
	return a, a.Check()
}

// jsonErr says where JSON went wrong, in one line.
func jsonErr(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Errorf("invalid JSON at line %d: %v", line, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the file"
		}
		return fmt.Errorf("field %q must be a %s, not a JSON %s", field, te.Type, te.Value)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// MarshalFile writes the arch as an arch file: indented, one layer a line.
func (a Arch) MarshalFile() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"name\": %s,\n  \"description\": %s,\n  \"layers\": [\n", quote(a.Name), quote(a.Description))
	for i, l := range a.Layers {
		js, _ := l.MarshalJSON()
		b.WriteString("    ")
		b.Write(js)
		if i < len(a.Layers)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("  ],\n  \"recipe\": ")
	rj, _ := json.MarshalIndent(a.Recipe, "  ", "  ")
	b.Write(rj)
	b.WriteString("\n}\n")
	return b.Bytes()
}

func quote(s string) string {
	js, _ := json.Marshal(s)
	return string(js)
}

// PyTorch writes the architecture as Python code that builds the same
// network with torch.nn, so that Python can load a state dict saved here
// (each layer prints itself as PyTorch's repr, which is valid Python).
func (a Arch) PyTorch() (string, error) {
	p, err := a.Plan()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %s parameters\n", a.Name, Thousands(p.Params))
	b.WriteString("model = nn.Sequential(\n")
	for _, r := range p.Rows {
		fmt.Fprintf(&b, "    nn.%s,\n", r.Spec)
	}
	b.WriteString(")\n")
	return b.String(), nil
}
