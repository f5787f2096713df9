package models

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
)

func TestRegistry(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{"step1", "step2", "step3", "tiny"}) {
		t.Errorf("Names = %v", got)
	}
	_, err := Lookup("step9")
	if err == nil || !strings.Contains(err.Error(), "step1, step2, step3, tiny") {
		t.Errorf("unknown arch: %v", err)
	}
}

// The seed study's parameter counts, and the arithmetic of docs/study.md's
// layouts for them.
func TestParameterCounts(t *testing.T) {
	for name, want := range map[string]int64{
		"step1": 320 + 4*9248 + 2890,             // 40,202
		"step2": (126 + 28) + 4*(1764+28) + 1260, // 8,582
		"step3": 8582 - 5*28,                     // 8,442
		"tiny":  (81 + 18) + 4*(729+18) + 810,    // 3,897: step2's layout at width 9, conv6 9→10
	} {
		net, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := Lookup(name)
		if got := nn.NumParams(net); got != want || a.Params() != want {
			t.Errorf("%s: %d parameters (planned %d), want %d", name, got, a.Params(), want)
		}
		net.Close()
	}
}

// Each network maps [B,1,28,28] to [B,10] log-probabilities.
func TestOutputsAreLogProbabilities(t *testing.T) {
	const batch = 3
	pix := make([]float32, batch*28*28)
	for i := range pix {
		pix[i] = float32(math.Sin(float64(i))) * 2
	}
	x, err := torch.FromSlice(pix, batch, 1, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, name := range Names() {
		net, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, training := range []bool{true, false} {
			net.Train(training)
			out, err := net.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape(), []int64{batch, 10}) {
				t.Errorf("%s: output shape %v", name, out.Shape())
			}
			vals, _ := out.Float64s()
			out.Close()
			for r := range batch {
				var sum float64
				for _, v := range vals[r*10 : (r+1)*10] {
					if v > 1e-6 {
						t.Errorf("%s: log-probability %v > 0", name, v)
					}
					sum += math.Exp(v)
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Errorf("%s (training %v): row %d probabilities sum to %v", name, training, r, sum)
				}
			}
		}
		net.Close()
	}
}

func count(specs []nn.Spec) (convs, biased, bns, affineBNs, dropouts, pools int) {
	for _, s := range specs {
		switch l := s.(type) {
		case nn.Conv2d:
			convs++
			if !l.NoBias {
				biased++
			}
		case nn.BatchNorm2d:
			bns++
			if !l.NoAffine {
				affineBNs++
			}
		case nn.Dropout:
			dropouts++
		case nn.MaxPool2d:
			pools++
		}
	}
	return
}

func TestLayerChoices(t *testing.T) {
	for _, tc := range []struct {
		name                                                 string
		convs, biased, bns, affineBNs, minDropouts, maxpools int
	}{
		{"step1", 6, 6, 0, 0, 0, 2},
		{"step2", 6, 0, 5, 5, 1, 2},
		{"step3", 7, 0, 6, 6, 1, 2}, // conv6 as a block, a 1×1 conv after GAP
		{"tiny", 6, 0, 5, 5, 0, 2},
	} {
		a, _ := Lookup(tc.name)
		specs, err := a.Specs()
		if err != nil {
			t.Fatal(err)
		}
		convs, biased, bns, affine, dropouts, pools := count(specs)
		if convs != tc.convs || biased != tc.biased || bns != tc.bns || affine != tc.affineBNs || pools != tc.maxpools {
			t.Errorf("%s: %d convs (%d with bias), %d BatchNorm (%d affine), %d max-pools", tc.name, convs, biased, bns, affine, pools)
		}
		if tc.minDropouts == 0 && dropouts != 0 || dropouts < tc.minDropouts {
			t.Errorf("%s: %d Dropout layers", tc.name, dropouts)
		}
		// The built network agrees: no parameter named *.bias on a conv.
		net, _ := a.Build()
		for i, l := range net.Layers {
			if _, conv := l.Spec.(nn.Conv2d); conv && tc.biased == 0 && len(l.NamedParameters()) != 1 {
				t.Errorf("%s: conv layer %d has %d parameters", tc.name, i, len(l.NamedParameters()))
			}
		}
		net.Close()
	}
}

func TestSummary(t *testing.T) {
	a, err := Lookup("step2")
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	if s.Total != 8582 || s.Trainable != 8582 {
		t.Errorf("totals %d / %d", s.Total, s.Trainable)
	}
	// The L2 layout, by hand: padding 1 keeps 28 and 14; pools halve; the
	// unpadded conv5 and conv6 take 7 → 5 → 3.
	want := map[string][]int64{
		"Conv2d-1":      {-1, 14, 28, 28},
		"MaxPool2d-9":   {-1, 14, 14, 14},
		"MaxPool2d-18":  {-1, 14, 7, 7},
		"Conv2d-19":     {-1, 14, 5, 5},
		"Conv2d-23":     {-1, 10, 3, 3},
		"LogSoftmax-26": {-1, 10},
	}
	seen := 0
	for _, r := range s.Rows {
		if w, ok := want[r.Layer]; ok {
			seen++
			if !slices.Equal(r.Output, w) {
				t.Errorf("%s: %v, want %v", r.Layer, r.Output, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of %d rows in %v", seen, len(want), s.Rows)
	}
	if s.Rows[0].Params != 126 || s.Rows[1].Params != 28 {
		t.Errorf("first rows: %+v %+v", s.Rows[0], s.Rows[1])
	}
	table := s.String()
	for _, line := range []string{"Total params: 8,582", "Non-trainable params: 0", "Conv2d-1", "Estimated Total Size (MB)"} {
		if !strings.Contains(table, line) {
			t.Errorf("table lacks %q:\n%s", line, table)
		}
	}
}

// Lookup hands out copies: changing the arch it returned, or decoding JSON
// into it, leaves the registry's arch as it was.
func TestLookupReturnsACopy(t *testing.T) {
	a, err := Lookup("step2")
	if err != nil {
		t.Fatal(err)
	}
	want := a.MarshalFile()
	a.Layers[0].Out = 99
	*a.Layers[0].Bias = !*a.Layers[0].Bias
	if err := json.Unmarshal([]byte(`{"layers": [{"type": "Linear", "out": 3, "bias": true}]}`), &a); err != nil {
		t.Fatal(err)
	}
	b, _ := Lookup("step2")
	if got := b.MarshalFile(); !bytes.Equal(got, want) {
		t.Errorf("the registry's step2 changed:\n%s", got)
	}
}
