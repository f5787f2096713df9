package nn_test

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/torchtest"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
)

func names(ns []torch.Named) []string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Name)
	}
	return s
}

func input(t *testing.T, n int) *torch.Tensor {
	vals := make([]float32, n*8*8)
	for i := range vals {
		vals[i] = float32((i*37)%17)/8 - 1
	}
	return keep(t)(torch.FromSlice(vals, int64(n), 1, 8, 8))
}

func TestStateDictNames(t *testing.T) {
	net := torchtest.SmallNet(t)
	want := []string{
		"0.weight",
		"1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
		"4.weight", "4.bias",
	}
	if got := names(net.StateDict()); !slices.Equal(got, want) {
		t.Errorf("state dict = %v\nwant %v", got, want)
	}
	if got := names(net.NamedParameters()); !slices.Equal(got, []string{"0.weight", "1.weight", "1.bias", "4.weight", "4.bias"}) {
		t.Errorf("parameters = %v", got)
	}
	// 36 + 4 + 4 + 108 + 3
	if n := nn.NumParams(net); n != 155 {
		t.Errorf("NumParams = %d, want 155", n)
	}
}

func TestStateDictRoundTrip(t *testing.T) {
	if err := torch.ManualSeed(1); err != nil {
		t.Fatal(err)
	}
	a := torchtest.SmallNet(t)
	a.Train(true)
	// A training-mode pass moves the BatchNorm buffers off their defaults.
	keep(t)(a.Forward(input(t, 5)))
	a.Train(false)
	x := input(t, 3)
	want := floats(t, keep(t)(a.Forward(x)))

	path := filepath.Join(t.TempDir(), "model.pt")
	if err := nn.Save(a, path); err != nil {
		t.Fatal(err)
	}
	if err := torch.ManualSeed(2); err != nil {
		t.Fatal(err)
	}
	b := torchtest.SmallNet(t)
	b.Train(false)
	if before := floats(t, keep(t)(b.Forward(x))); slices.Equal(before, want) {
		t.Fatal("two differently seeded networks agree before loading")
	}
	if err := nn.Load(b, path); err != nil {
		t.Fatal(err)
	}
	if got := floats(t, keep(t)(b.Forward(x))); !slices.Equal(got, want) {
		t.Errorf("after load: %v\nwant (bit for bit) %v", got, want)
	}
	nbt, _ := b.StateDict()[5].Tensor.Int64s()
	if !slices.Equal(nbt, []int64{1}) {
		t.Errorf("num_batches_tracked after load = %v", nbt)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("save left %d files behind", len(entries))
	}
}

func TestLoadRejectsMismatches(t *testing.T) {
	dir := t.TempDir()
	other, err := nn.NewSequential(nn.Conv2d{In: 1, Out: 5, Kernel: 3, Padding: 1, NoBias: true}, nn.BatchNorm2d{Features: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	misshapen := filepath.Join(dir, "misshapen.pt")
	if err := nn.Save(other, misshapen); err != nil {
		t.Fatal(err)
	}
	net := torchtest.SmallNet(t)
	before := floats(t, net.StateDict()[0].Tensor)
	err = nn.Load(net, misshapen)
	if err == nil || !strings.Contains(err.Error(), `"0.weight" has shape [5 1 3 3], the model expects [4 1 3 3]`) {
		t.Errorf("misshapen entry: %v", err)
	}
	if after := floats(t, net.StateDict()[0].Tensor); !slices.Equal(before, after) {
		t.Error("a rejected load changed the model")
	}

	// Only the first two layers' entries: 4.weight is missing.
	partial, _ := nn.NewSequential(nn.Conv2d{In: 1, Out: 4, Kernel: 3, Padding: 1, NoBias: true}, nn.BatchNorm2d{Features: 4})
	defer partial.Close()
	missing := filepath.Join(dir, "missing.pt")
	if err := nn.Save(partial, missing); err != nil {
		t.Fatal(err)
	}
	if err := nn.Load(net, missing); err == nil || !strings.Contains(err.Error(), `missing entry "4.weight"`) {
		t.Errorf("missing entry: %v", err)
	}
	// The other way round, the file has entries the model lacks.
	if err := nn.Load(partial, filepath.Join(dir, "full.pt")); err == nil {
		t.Error("loading a file that does not exist succeeded")
	}
	full := filepath.Join(dir, "full.pt")
	if err := nn.Save(net, full); err != nil {
		t.Fatal(err)
	}
	if err := nn.Load(partial, full); err == nil || !strings.Contains(err.Error(), `unexpected entry "4.weight"`) {
		t.Errorf("unexpected entry: %v", err)
	}
	// Not a checkpoint at all.
	junk := filepath.Join(dir, "junk.pt")
	os.WriteFile(junk, []byte("not a model"), 0o644)
	if err := nn.Load(net, junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("junk file: %v", err)
	}
}

// testdata/python_state.pt was written by PyTorch (testdata/make_state_dict.py)
// for the same network: its state dict, an input and PyTorch's eval-mode
// output for it. Loading the state dict here must give PyTorch's output.
func TestLoadPyTorchStateDict(t *testing.T) {
	var state []torch.Named
	var x, want *torch.Tensor
	for _, n := range torchtest.LoadFile(t, "testdata/python_state.pt") {
		switch {
		case n.Name == "input":
			x = n.Tensor
		case n.Name == "output":
			want = n.Tensor
		default:
			state = append(state, torch.Named{Name: strings.TrimPrefix(n.Name, "model."), Tensor: n.Tensor})
		}
	}
	sd, err := torch.SaveTensors(state)
	if err != nil {
		t.Fatal(err)
	}
	net := torchtest.SmallNet(t)
	if err := nn.DecodeStateDict(net, sd); err != nil {
		t.Fatal(err)
	}
	net.Train(false)
	got := floats(t, keep(t)(net.Forward(x)))
	if exp := floats(t, want); !near(got, exp, 1e-6) {
		t.Errorf("output = %v\nPyTorch  %v", got, exp)
	}
}

// PyTorch reads what Save writes. This needs Python with PyTorch, which the
// project itself does not; the test skips where it is missing.
func TestPyTorchLoadsSavedStateDict(t *testing.T) {
	py := pythonWithTorch()
	if py == "" {
		t.Skip("no python3 with torch (apt-get install python3-torch)")
	}
	net := torchtest.SmallNet(t)
	path := filepath.Join(t.TempDir(), "go.pt")
	if err := nn.Save(net, path); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, torch, torch.nn as nn
net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
    nn.MaxPool2d(2), nn.Conv2d(4, 3, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LogSoftmax(dim=1))
sd = torch.load(sys.argv[1])
net.load_state_dict(sd)
print(" ".join(sd.keys()), float(sd["0.weight"].sum()))
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("PyTorch could not load the file: %v\n%s", err, out)
	}
	var sum float64
	for _, v := range floats(t, net.StateDict()[0].Tensor) {
		sum += float64(v)
	}
	fields := strings.Fields(string(out))
	if got := strings.Join(fields[:len(fields)-1], " "); got != strings.Join(names(net.StateDict()), " ") {
		t.Errorf("PyTorch sees keys %q", got)
	}
	pySum, err := strconv.ParseFloat(fields[len(fields)-1], 64)
	if err != nil || math.Abs(pySum-sum) > 1e-5 {
		t.Errorf("PyTorch's 0.weight sums to %s, Go's to %v", fields[len(fields)-1], sum)
	}
}

// pythonWithTorch finds a Python that imports torch: the one on PATH, or
// Debian's, where python3-torch installs it.
func pythonWithTorch() string {
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		if py, err := exec.LookPath(name); err == nil && exec.Command(py, "-c", "import torch").Run() == nil {
			return py
		}
	}
	return ""
}
