package models

import (
	"fmt"
	"strings"

	"github.com/tinydigits/tinydigits/torch/nn"
)

// SummaryRow is one layer of a Summary.
type SummaryRow struct {
	Layer  string  // type and 1-based index, as torchsummary names it: "Conv2d-1"
	Spec   string  // the layer as PyTorch prints it
	Output []int64 // output shape, with -1 for the batch
	Params int64
}

// Summary is a torchsummary-style description of a network for one input
// size: each layer's output shape and parameter count, the totals, and the
// memory estimate of a forward and backward pass of one sample.
type Summary struct {
	Rows                   []SummaryRow
	Total, Trainable       int64
	InputMB, ForwardBackMB float64
	ParamsMB, TotalMB      float64
}

// Summary tabulates the arch for one MNIST image from its Plan: each
// layer's output shape and parameter count, the totals, and the memory
// estimate of a forward and backward pass of one sample.
func (a Arch) Summary() (*Summary, error) {
	p, err := a.Plan()
	if err != nil {
		return nil, err
	}
	s := &Summary{}
	var outputElems int64
	for i, r := range p.Rows {
		row := SummaryRow{Layer: fmt.Sprintf("%s-%d", specName(r.Spec), i+1), Spec: r.Spec.String(), Output: []int64{-1}, Params: r.Params}
		elems := int64(1)
		for _, d := range r.Output {
			row.Output = append(row.Output, int64(d))
			elems *= int64(d)
		}
		outputElems += elems
		s.Rows = append(s.Rows, row)
	}
	s.Total = p.Params
	// Every parameter of these networks is learned.
	s.Trainable = s.Total
	const mb = 1 << 20
	s.InputMB = float64(Input[0]*Input[1]*Input[2]) * 4 / mb
	s.ForwardBackMB = 2 * float64(outputElems) * 4 / mb // outputs and their gradients
	s.ParamsMB = float64(s.Total) * 4 / mb
	s.TotalMB = s.InputMB + s.ForwardBackMB + s.ParamsMB
	return s, nil
}

// specName is the layer type's name: "Conv2d" from "Conv2d(1, 14, ...)".
func specName(s nn.Spec) string {
	name := s.String()
	if i := strings.IndexByte(name, '('); i >= 0 {
		return name[:i]
	}
	return name
}

// String draws the table as torchsummary prints it.
func (s *Summary) String() string {
	var b strings.Builder
	line := strings.Repeat("-", 64) + "\n"
	b.WriteString(line)
	fmt.Fprintf(&b, "%20s  %25s %15s\n", "Layer (type)", "Output Shape", "Param #")
	b.WriteString(strings.Repeat("=", 64) + "\n")
	for _, r := range s.Rows {
		dims := make([]string, len(r.Output))
		for i, d := range r.Output {
			dims[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(&b, "%20s  %25s %15s\n", r.Layer, "["+strings.Join(dims, ", ")+"]", Thousands(r.Params))
	}
	b.WriteString(strings.Repeat("=", 64) + "\n")
	fmt.Fprintf(&b, "Total params: %s\n", Thousands(s.Total))
	fmt.Fprintf(&b, "Trainable params: %s\n", Thousands(s.Trainable))
	fmt.Fprintf(&b, "Non-trainable params: %s\n", Thousands(s.Total-s.Trainable))
	b.WriteString(line)
	fmt.Fprintf(&b, "Input size (MB): %.2f\n", s.InputMB)
	fmt.Fprintf(&b, "Forward/backward pass size (MB): %.2f\n", s.ForwardBackMB)
	fmt.Fprintf(&b, "Params size (MB): %.2f\n", s.ParamsMB)
	fmt.Fprintf(&b, "Estimated Total Size (MB): %.2f\n", s.TotalMB)
	b.WriteString(line)
	return b.String()
}

// Thousands writes n with comma separators, as the seed writes parameter
// counts: 40,202.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + Thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
