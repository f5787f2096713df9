package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"image/png"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/train/cli"
	"github.com/tinydigits/tinydigits/transforms"
)

// smallFile is a net written by hand (unpadded convolutions, BatchNorm
// without affine parameters): only what each layer changes.
const smallFile = "../models/testdata/small.json"

// A net that is only a file trains from -arch FILE; its run folder, copied
// elsewhere, evaluates with -eval and predicts with predict, with no flag
// naming the arch and no registry entry for it.
func TestArchFileEndToEnd(t *testing.T) {
	bin := buildTrain(t)
	predict := filepath.Join(t.TempDir(), "predict")
	if out, err := exec.Command("go", "build", "-o", predict, "../predict").CombinedOutput(); err != nil {
		t.Fatalf("go build predict: %v\n%s", err, out)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "l1a.json")
	l1a, err := os.ReadFile(smallFile)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, l1a, 0o644)
	run := filepath.Join(dir, "run")
	out, err := exec.Command(bin, "-arch", file, "-epochs", "1", "-subset", "5000", "-threads", "2", "-quiet", "-out", run).CombinedOutput()
	if err != nil {
		t.Fatalf("train -arch %s: %v\n%s", file, err, out)
	}
	if !strings.Contains(string(out), "small, 6,298 parameters") {
		t.Errorf("banner:\n%s", out)
	}
	acc := regexp.MustCompile(`test loss [0-9.]+ acc [0-9.]+% \((\d+)/10000\)`).FindStringSubmatch(string(out))
	if acc == nil {
		t.Fatalf("no epoch line:\n%s", out)
	}

	// The folder moves; the arch file goes away.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(run, moved); err != nil {
		t.Fatal(err)
	}
	os.Remove(file)
	eval, err := exec.Command(bin, "-eval", filepath.Join(moved, "model.pt")).CombinedOutput()
	if err != nil || !strings.Contains(string(eval), "("+acc[1]+"/10000)") || !strings.Contains(string(eval), "small") {
		t.Errorf("-eval of the moved model: %v, want %s/10000\n%s", err, acc[1], eval)
	}
	ds, err := mnist.Load("")
	if err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(t.TempDir(), "digit.png")
	writePNGFile(t, png, ds.Test.Image(0))
	pred, err := exec.Command(predict, "-model", filepath.Join(moved, "model.pt"), png).CombinedOutput()
	if err != nil || !regexp.MustCompile(`digit.png: \d \(\d+\.\d%\)`).Match(pred) {
		t.Errorf("predict: %v\n%s", err, pred)
	}
}

func writePNGFile(t *testing.T, path string, pix []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, transforms.DigitImage(pix)); err != nil {
		t.Fatal(err)
	}
}

// Bad arch files, given to the command: one line and exit status 2, naming
// the layer and the problem.
func TestBadArchFilesCommand(t *testing.T) {
	dir := t.TempDir()
	l1a, err := os.ReadFile(smallFile)
	if err != nil {
		t.Fatal(err)
	}
	good := string(l1a)
	swap := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"unknown layer", swap(`{"type": "Flatten"}`, `{"type": "Reshape"}`), `layer 16: unknown layer type "Reshape"`},
		{"wrong channels", swap(`{"type": "BatchNorm2d", "affine": false}, {"type": "ReLU"},
    {"type": "Conv2d", "out": 16`, `{"type": "BatchNorm2d", "affine": false}, {"type": "ReLU"},
    {"type": "Conv2d", "in": 3, "out": 16`), "layer 4 (Conv2d): in is 3, but the layer before gives 10 channels"},
		{"not 10 classes", swap(`{"type": "Conv2d", "out": 10, "kernel": 1`, `{"type": "Conv2d", "out": 7, "kernel": 1`), "must end in [B, 10] log-probabilities"},
		{"too many pools", swap(`{"type": "AdaptiveAvgPool2d", "size": 1}`, `{"type": "MaxPool2d", "kernel": 2}, {"type": "MaxPool2d", "kernel": 2}, {"type": "MaxPool2d", "kernel": 2}, {"type": "MaxPool2d", "kernel": 2}`), "layer 17 (MaxPool2d): a 1×1 input is smaller than the kernel 2"},
		{"invalid JSON", good[:len(good)/2], "invalid JSON"},
		{"empty file", "", "empty file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			os.WriteFile(file, []byte(tc.file), 0o644)
			var stdout, stderr bytes.Buffer
			code := cli.Main([]string{"-arch", file, "-dry-run"}, &stdout, &stderr)
			msg := strings.TrimSpace(stderr.String())
			if code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) || !strings.Contains(msg, file) {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line naming the file with %q", code, msg, tc.want)
			}
		})
	}
}
