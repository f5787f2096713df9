package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
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
//
// The table of kinds (kinds.go) says which options each type has.
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
	Approximate                              string  // GELU: "none" or "tanh"
}

// UnmarshalJSON reads a layer, refusing unknown types and options that the
// type does not have. Options come from the type's entry in the table of
// kinds.
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
	k, ok := kindOf(typ)
	if !ok {
		return fmt.Errorf("unknown layer type %q (known: %s)", typ, strings.Join(LayerTypes(), ", "))
	}
	// In the file's order, so that the first bad option is the one named.
	names := make([]string, 0, len(keys))
	for name := range keys {
		if name != "type" {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		return bytes.Index(data, []byte(`"`+names[i]+`"`)) < bytes.Index(data, []byte(`"`+names[j]+`"`))
	})
	*l = Layer{Type: k.name}
	for _, name := range names {
		o, ok := k.option(name)
		if !ok {
			known := "none"
			if len(k.options) > 0 {
				known = strings.Join(k.optionNames(), ", ")
			}
			return fmt.Errorf("%s: unknown option %q (known: %s)", k.name, name, known)
		}
		if err := o.read(l, keys[name]); err != nil {
			return fmt.Errorf("%s: %v", k.name, err)
		}
	}
	for _, o := range k.options {
		if _, given := keys[o.name]; !given && o.fill {
			reflect.ValueOf(l).Elem().FieldByName(o.field).Set(reflect.ValueOf(o.def))
		}
	}
	return nil
}

// read decodes the option's JSON value into its field of l. A bool held by
// pointer (bias, affine: true unless said otherwise) stays nil when true,
// so that equal layers are equal values.
func (o option) read(l *Layer, raw json.RawMessage) error {
	field := reflect.ValueOf(l).Elem().FieldByName(o.field)
	typ := field.Type()
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	v := reflect.New(typ)
	if err := json.Unmarshal(raw, v.Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("option %q must be a %s, not a JSON %s", o.name, typ, te.Value)
		}
		return fmt.Errorf("option %q: %v", o.name, err)
	}
	switch {
	case field.Kind() != reflect.Pointer:
		field.Set(v.Elem())
	case !v.Elem().Bool(): // a *bool whose default is true
		field.Set(v)
	}
	return nil
}

// isDefault reports whether the option holds its default in l.
func (o option) isDefault(l Layer) bool {
	v := reflect.ValueOf(l).FieldByName(o.field)
	switch {
	case v.Kind() == reflect.Pointer:
		return v.IsNil() || v.Elem().Bool()
	case v.IsZero():
		return true
	case o.def != nil && v.Interface() == o.def:
		return true
	case o.name == "groups": // 1 and below are one group
		return v.Int() <= 1
	}
	return false
}

// value is the option's value in l, as a file writes it.
func (o option) value(l Layer) any {
	v := reflect.ValueOf(l).FieldByName(o.field)
	if v.Kind() == reflect.Pointer {
		return v.IsNil() || v.Elem().Bool()
	}
	return v.Interface()
}

// MarshalJSON writes the layer with its type first and, of its options,
// those a reader needs (out, kernel, p, size, dim) and those that differ
// from PyTorch's defaults.
func (l Layer) MarshalJSON() ([]byte, error) {
	k, ok := kinds[l.Type]
	if !ok {
		return nil, fmt.Errorf("unknown layer type %q", l.Type)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\"type\": %q", l.Type)
	for _, o := range k.options {
		if o.always || !o.isDefault(l) {
			js, _ := json.Marshal(o.value(l))
			fmt.Fprintf(&b, ", %q: %s", o.name, js)
		}
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

func isTrue(b *bool) bool { return b == nil || *b }
