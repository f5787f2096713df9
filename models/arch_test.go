package models

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
)

// libtorchShapes runs one zero image through the built network and returns
// each layer's output shape (without the batch) and parameter count, as
// libtorch computes them: the independent check of Plan.
func libtorchShapes(t *testing.T, a Arch) ([][]int, []int64) {
	t.Helper()
	net, err := a.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	net.Train(false)
	var shapes [][]int
	var params []int64
	err = torch.NoGrad(func() error {
		x, err := torch.Zeros(torch.Float32, 1, 1, 28, 28)
		if err != nil {
			return err
		}
		defer x.Close()
		out, err := net.ForwardEach(x, func(i int, l *nn.Layer, out *torch.Tensor) {
			var s []int
			for _, d := range out.Shape()[1:] {
				s = append(s, int(d))
			}
			shapes = append(shapes, s)
			var n int64
			for _, p := range l.NamedParameters() {
				n += p.Tensor.NumEl()
			}
			params = append(params, n)
		})
		if err == nil {
			out.Close()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return shapes, params
}

// Plan's shapes and parameter counts agree with libtorch's, layer by layer,
// for the built-ins, for a net around one layer of every type in the table
// of kinds (KindExamples), and for a layout that mixes several.
func TestPlanMatchesLibtorch(t *testing.T) {
	archs := KindExamples()
	if len(archs) != len(LayerTypes()) {
		t.Fatalf("%d examples for %d layer types", len(archs), len(LayerTypes()))
	}
	for _, n := range Names() {
		a, _ := Lookup(n)
		archs = append(archs, a)
	}
	f := false
	archs = append(archs, Arch{Name: "every layer", Recipe: Recipe{Epochs: 1, BatchSize: 1, LR: 0.1, PctStart: 0.3}, Layers: []Layer{
		{Type: "Conv2d", Out: 8, Kernel: 5, Stride: 2, Padding: 2},
		{Type: "BatchNorm2d", Affine: &f, Momentum: 0.01},
		{Type: "ReLU"},
		{Type: "Conv2d", Out: 8, Kernel: 3, Groups: 8, Bias: &f},
		{Type: "AvgPool2d", Kernel: 3, Stride: 2},
		{Type: "Dropout", P: 0.1},
		{Type: "MaxPool2d", Kernel: 2, Stride: 1},
		{Type: "AdaptiveAvgPool2d", Size: 2},
		{Type: "Flatten"},
		{Type: "Linear", Out: 12},
		{Type: "Linear", Out: 10, Bias: &f},
		{Type: "LogSoftmax", Dim: 1},
	}})
	for _, a := range archs {
		p, err := a.Plan()
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		shapes, params := libtorchShapes(t, a)
		for i, r := range p.Rows {
			if !slices.Equal(r.Output, shapes[i]) || r.Params != params[i] {
				t.Errorf("%s layer %d (%s): plan %v, %d params; libtorch %v, %d", a.Name, i+1, r.Spec, r.Output, r.Params, shapes[i], params[i])
			}
		}
	}
}

// Each built-in's file is what MarshalFile writes for it (so -export-arch
// gives the same file back), and it parses to the same value.
func TestBuiltinFilesRoundTrip(t *testing.T) {
	for _, n := range Names() {
		a, _ := Lookup(n)
		data, err := builtin.ReadFile("archs/" + n + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if got := a.MarshalFile(); string(got) != string(data) {
			t.Errorf("%s: MarshalFile differs from archs/%s.json:\n%s", n, n, got)
		}
		back, err := ParseArch(a.MarshalFile())
		if err != nil || !reflect.DeepEqual(back, a) {
			t.Errorf("%s: round trip: %v\n%+v\n%+v", n, err, back, a)
		}
	}
}

// step3 as a file, with one line replaced.
func step3With(t *testing.T, old, new string) string {
	t.Helper()
	a, _ := Lookup("step3")
	s := string(a.MarshalFile())
	if !strings.Contains(s, old) {
		t.Fatalf("step3's file has no %q", old)
	}
	return strings.Replace(s, old, new, 1)
}

// Bad arch files get one line that names the layer and the problem.
func TestBadArchFiles(t *testing.T) {
	conv1 := `{"type": "Conv2d", "out": 14, "kernel": 3, "padding": 1, "bias": false}`
	for _, tc := range []struct {
		name, file, want string
	}{
		{"empty file", "", "empty file"},
		{"blank file", " \n\t", "empty file"},
		{"invalid JSON", "{\n  \"name\": \"x\",\n  \"layers\": [\n}", "invalid JSON at line 4"},
		{"not an object", "[1, 2]", "must be a"},
		{"unknown layer", step3With(t, conv1, `{"type": "Conv3d", "out": 14, "kernel": 3}`), `layer 1: unknown layer type "Conv3d"`},
		{"unknown option", step3With(t, conv1, `{"type": "Conv2d", "out": 14, "kernal": 3}`), `layer 1: Conv2d: unknown option "kernal"`},
		{"option of the wrong type", step3With(t, conv1, `{"type": "Conv2d", "out": "14", "kernel": 3}`), `layer 1: Conv2d: option "out" must be a int`},
		{"wrong channels", step3With(t, `{"type": "Conv2d", "out": 10, "kernel": 3, "bias": false}`, `{"type": "Conv2d", "in": 12, "out": 10, "kernel": 3, "bias": false}`), "layer 19 (Conv2d): in is 12, but the layer before gives 14 channels"},
		{"wrong BatchNorm features", step3With(t, `{"type": "BatchNorm2d"}`, `{"type": "BatchNorm2d", "features": 7}`), "layer 2 (BatchNorm2d): features is 7, but the layer before gives 14 channels"},
		{"output not 10 classes", step3With(t, `{"type": "Conv2d", "out": 10, "kernel": 1, "bias": false}`, `{"type": "Conv2d", "out": 12, "kernel": 1, "bias": false}`), "must end in [B, 10] log-probabilities"},
		{"no log-softmax", step3With(t, `,
    {"type": "LogSoftmax", "dim": 1}`, ""), "its last layer is Flatten with output [B, 10]"},
		{"too many pools", step3With(t, `{"type": "AdaptiveAvgPool2d", "size": 1}`, `{"type": "MaxPool2d", "kernel": 2}, {"type": "MaxPool2d", "kernel": 2}`), "layer 27 (MaxPool2d): a 1×1 input is smaller than the kernel 2"},
		{"kernel too big", step3With(t, conv1, `{"type": "Conv2d", "out": 14, "kernel": 31}`), "layer 1 (Conv2d): a 28×28 input with kernel 31 and padding 0 leaves no output"},
		{"groups", step3With(t, conv1, `{"type": "Conv2d", "out": 14, "kernel": 3, "padding": 1, "groups": 3}`), "layer 1 (Conv2d): groups 3 must divide"},
		{"linear before flatten", step3With(t, `{"type": "Conv2d", "out": 10, "kernel": 1, "bias": false}`, `{"type": "Linear", "out": 10}`), "layer 27 (Linear): needs a flat input"},
		{"dropout p", step3With(t, `{"type": "Dropout", "p": 0.05}`, `{"type": "Dropout", "p": 1.5}`), "layer 4 (Dropout): p must be in [0, 1)"},
		{"unknown field", strings.Replace(step3With(t, conv1, conv1), `"name"`, `"nmae": 1, "name"`, 1), `unknown field "nmae"`},
		{"no layers", `{"name": "x", "layers": [], "recipe": {"epochs": 1, "batch_size": 1, "lr": 0.1}}`, "has no layers"},
		{"missing recipe", `{"name": "x", "layers": []}`, `missing field "recipe"`},
		{"bad recipe", step3With(t, `"lr": 0.1`, `"lr": -1`), "recipe: -lr must be in (0, 1000]"},
		{"unknown recipe field", step3With(t, `"lr": 0.1`, `"lr": 0.1, "nestrov": true`), `recipe: unknown field "nestrov"`},
	} {
		_, err := ParseArch([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line with %q", tc.name, err, tc.want)
		}
	}
}

// smallFile is a net written as a file by hand (unpadded convolutions,
// BatchNorm without affine parameters), every input size left out (the
// train command's tests use it too).
const smallFile = "testdata/small.json"

func TestHandWrittenFile(t *testing.T) {
	a, err := ReadFile(smallFile)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: 90 + 1,440 + 2,304 + 2,304 + 160 weights, no bias, no affine.
	if got := a.Params(); got != 90+1440+2304+2304+160 {
		t.Errorf("%d parameters", got)
	}
	if a.Recipe.PctStart != DefaultPctStart || a.Recipe.ScheduleName() != "step" {
		t.Errorf("recipe defaults: %+v", a.Recipe)
	}
	py, _ := a.PyTorch()
	if !strings.Contains(py, "nn.Conv2d(10, 16, kernel_size=(3, 3)") || !strings.Contains(py, "affine=False") {
		t.Errorf("PyTorch code:\n%s", py)
	}
	b, err := Resolve(smallFile)
	if err != nil || !reflect.DeepEqual(a, b) {
		t.Errorf("Resolve(%s): %v", smallFile, err)
	}
	if _, err := Resolve("small"); err == nil || !strings.Contains(err.Error(), "unknown arch") {
		t.Errorf("an unregistered name: %v", err)
	}
	if _, err := Resolve(t.TempDir() + "/none.json"); err == nil || !strings.Contains(err.Error(), "no such arch file") {
		t.Errorf("a missing file: %v", err)
	}
	// Registration makes it a name; twice is refused.
	a.Name = "l1a-test"
	if err := Register(a); err != nil {
		t.Fatal(err)
	}
	if err := Register(a); err == nil {
		t.Error("registered twice")
	}
	if _, err := Resolve("l1a-test"); err != nil {
		t.Error(err)
	}
	mu.Lock()
	delete(registry, "l1a-test")
	mu.Unlock()
}

// FuzzParseArch: the parser never panics, every refusal is one line, and a
// file it accepts writes back (MarshalFile) to a file that parses to the
// same value.
func FuzzParseArch(f *testing.F) {
	for _, n := range Names() {
		data, _ := builtin.ReadFile("archs/" + n + ".json")
		f.Add(data)
	}
	if data, err := os.ReadFile(smallFile); err == nil {
		f.Add(data)
	}
	f.Add([]byte(""))
	f.Add([]byte(`{"name": "x", "layers": [{"type": "Linear"}], "recipe": {}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseArch(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			return
		}
		back, err := ParseArch(a.MarshalFile())
		if err != nil || !reflect.DeepEqual(a, back) {
			t.Errorf("round trip: %v\n%s", err, a.MarshalFile())
		}
		if _, err := a.Summary(); err != nil {
			t.Error(err)
		}
		_ = fmt.Sprint(a.Params())
	})
}

// Sizes that would exhaust memory are refused before anything is built.
func TestHugeArchRefused(t *testing.T) {
	for _, tc := range []struct{ old, new, want string }{
		{`{"type": "Conv2d", "out": 14, "kernel": 3, "padding": 1, "bias": false}`, `{"type": "Conv2d", "out": 1000000000, "kernel": 3}`, "out 1000000000 is out of range"},
		{`{"type": "Conv2d", "out": 14, "kernel": 3, "padding": 1, "bias": false}`, `{"type": "Conv2d", "out": 60000, "kernel": 3, "padding": 1}`, "too large"},
		{`{"type": "Conv2d", "out": 14, "kernel": 3, "padding": 1, "bias": false}`, `{"type": "Conv2d", "out": 14, "kernel": 3, "padding": 9223372036854775807}`, "padding 9223372036854775807 is out of range"},
	} {
		_, err := ParseArch([]byte(step3With(t, tc.old, tc.new)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.new, err)
		}
	}
}

// LogSoftmax's dim defaults to 1, as the README's table says.
func TestLogSoftmaxDimDefault(t *testing.T) {
	a, err := ParseArch([]byte(step3With(t, `{"type": "LogSoftmax", "dim": 1}`, `{"type": "LogSoftmax"}`)))
	if err != nil || a.Layers[len(a.Layers)-1].Dim != 1 {
		t.Errorf("LogSoftmax without dim: %v", err)
	}
}

// Every layer type's example reads back from the arch file it writes as
// the same layer, and a net of it plans; the file leaves out what is at
// its default.
func TestEveryKindRoundTrips(t *testing.T) {
	for _, a := range KindExamples() {
		if err := a.Check(); err != nil {
			t.Errorf("%s: %v", a.Name, err)
			continue
		}
		b, err := ParseArch(a.MarshalFile())
		if err != nil {
			t.Errorf("%s: %v", a.Name, err)
			continue
		}
		if !reflect.DeepEqual(a.Layers, b.Layers) {
			t.Errorf("%s: round trip:\n%+v\n%+v", a.Name, a.Layers, b.Layers)
		}
	}
	// Defaults stay out; a value other than the default is written.
	for _, tc := range []struct {
		l    Layer
		want string
	}{
		{Layer{Type: "GELU"}, `{"type": "GELU"}`},
		{Layer{Type: "GELU", Approximate: "none"}, `{"type": "GELU"}`},
		{Layer{Type: "GELU", Approximate: "tanh"}, `{"type": "GELU", "approximate": "tanh"}`},
		{Layer{Type: "Dropout2d", P: 0.1}, `{"type": "Dropout2d", "p": 0.1}`},
		{Layer{Type: "SiLU"}, `{"type": "SiLU"}`},
		{Layer{Type: "Conv2d", Out: 4, Kernel: 3, Groups: 1}, `{"type": "Conv2d", "out": 4, "kernel": 3}`},
	} {
		got, _ := tc.l.MarshalJSON()
		if string(got) != tc.want {
			t.Errorf("%+v: %s, want %s", tc.l, got, tc.want)
		}
	}
	var l Layer
	if err := l.UnmarshalJSON([]byte(`{"type": "GELU", "approximate": "fast"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := (Arch{Name: "x", Layers: []Layer{{Type: "Conv2d", Out: 10, Kernel: 3}, l, {Type: "AdaptiveAvgPool2d", Size: 1}, {Type: "Flatten"}, {Type: "LogSoftmax", Dim: 1}}}).Plan(); err == nil || !strings.Contains(err.Error(), `layer 2 (GELU): approximate must be "none" or "tanh"`) {
		t.Errorf("GELU approximate fast: %v", err)
	}
	if _, err := (Arch{Name: "x", Layers: []Layer{{Type: "Conv2d", Out: 10, Kernel: 3}, {Type: "AdaptiveAvgPool2d", Size: 1}, {Type: "Flatten"}, {Type: "Dropout2d", P: 0.1}, {Type: "LogSoftmax", Dim: 1}}}).Plan(); err == nil || !strings.Contains(err.Error(), "layer 4 (Dropout2d): needs a C×H×W input") {
		t.Errorf("Dropout2d after Flatten: %v", err)
	}
}
