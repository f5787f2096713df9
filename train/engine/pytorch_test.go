package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
)

// pythonWithTorch finds a Python that imports torch: the one on PATH, or
// Debian's, where python3-torch installs it.
func pythonWithTorch() string {
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		if py, err := exec.LookPath(name); err == nil && exec.Command(py, "-c", "import torch, numpy").Run() == nil {
			return py
		}
	}
	return ""
}

// requirePyTorch is pythonWithTorch for a test: without one it skips, or
// fails where scripts/test.sh requires PyTorch (TINYDIGITS_REQUIRE_PYTORCH).
func requirePyTorch(t *testing.T) string {
	t.Helper()
	py := pythonWithTorch()
	if py == "" {
		if os.Getenv("TINYDIGITS_REQUIRE_PYTORCH") != "" {
			t.Fatal("no python3 with torch and numpy, and scripts/test.sh requires one (apt-get install python3-torch)")
		}
		t.Skip("no python3 with torch and numpy (apt-get install python3-torch)")
	}
	return py
}

// pyScript evaluates a state dict with PyTorch's own modules, then scales the
// weights, saves them as a plain dict for Go and evaluates that too. It
// prints the two counts of correct test images.
const pyScript = `
import gzip, sys
import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(2)
%s
model.load_state_dict(torch.load(sys.argv[1]))
model.eval()
with gzip.open(sys.argv[2] + "/t10k-images-idx3-ubyte.gz") as f:
    x = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).copy())
with gzip.open(sys.argv[2] + "/t10k-labels-idx1-ubyte.gz") as f:
    y = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64))
x = (x.float() / 255 - 0.1307) / 0.3081

def correct():
    with torch.no_grad():
        return sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum()) for i in range(0, len(y), 1000))

print(correct())
with torch.no_grad():
    for p in model.parameters():
        p.mul_(0.9)
torch.save(dict(model.state_dict()), sys.argv[3])
print(correct())
`

// model.pt loads into PyTorch's nn.Sequential and scores exactly what Go
// scored; a state dict saved by PyTorch loads into the Go model and scores
// what PyTorch scored. Needs python3-torch; skips without it.
func TestPyTorchRoundTrip(t *testing.T) {
	py := requirePyTorch(t)
	c := shortConfig(t)
	c.Epochs = 1
	res := mustRun(t, c)
	arch, _ := models.Lookup("step3")
	code, err := arch.PyTorch()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "roundtrip.py")
	os.WriteFile(script, []byte(strings.Replace(pyScript, "%s", code, 1)), 0o644)
	dataDir, err := mnist.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	fromPython := filepath.Join(t.TempDir(), "python.pt")
	out, err := exec.Command(py, script, filepath.Join(c.Out, runfolder.ModelFile), dataDir, fromPython).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	counts := strings.Fields(string(out))
	if len(counts) != 2 {
		t.Fatalf("python printed %q", out)
	}
	if want := strconv.Itoa(res.Epochs[0].TestCorrect); counts[0] != want {
		t.Errorf("PyTorch scores model.pt %s/10000, Go %s/10000", counts[0], want)
	}
	var eval bytes.Buffer
	cfg := config(t, "step3")
	cfg.Overridden = map[string]bool{"arch": true}
	cfg.Threads = 2
	if err := Evaluate(context.Background(), fromPython, cfg, &eval); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(eval.String(), "("+counts[1]+"/10000)") {
		t.Errorf("PyTorch scores its own file %s/10000; Go says:\n%s", counts[1], eval.String())
	}
}

// pyEvalMany evaluates several nets with PyTorch's own modules: argv[1] is
// a JSON list of [code, model.pt] pairs, argv[2] the MNIST folder; it
// prints each net's count of correct test images.
const pyEvalMany = `
import gzip, json, sys
import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(2)
with gzip.open(sys.argv[2] + "/t10k-images-idx3-ubyte.gz") as f:
    x = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).copy())
with gzip.open(sys.argv[2] + "/t10k-labels-idx1-ubyte.gz") as f:
    y = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64))
x = (x.float() / 255 - 0.1307) / 0.3081
for code, path in json.load(open(sys.argv[1])):
    exec(code)
    model.load_state_dict(torch.load(path))
    model.eval()
    with torch.no_grad():
        print(sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum()) for i in range(0, len(y), 1000)))
`

// Every layer type of the table of kinds trains from an arch file, and the
// model.pt it saves scores in PyTorch, built from -pytorch's code, exactly
// what it scored in Go: a net around one layer of each type
// (models.KindExamples), so a type added to the table is covered here
// without a list to keep.
func TestEveryKindMatchesPyTorch(t *testing.T) {
	py := requirePyTorch(t)
	var pairs [][2]string
	var want []int
	for _, a := range models.KindExamples() {
		file := filepath.Join(t.TempDir(), a.Name+".json")
		if err := os.WriteFile(file, a.MarshalFile(), 0o644); err != nil {
			t.Fatal(err)
		}
		c := config(t, file)
		c.Subset, c.Threads = 640, 1
		res, err := Run(context.Background(), c, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		code, err := a.PyTorch()
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, [2]string{code, filepath.Join(c.Out, runfolder.ModelFile)})
		want = append(want, res.Epochs[len(res.Epochs)-1].TestCorrect)
	}
	list := filepath.Join(t.TempDir(), "nets.json")
	data, _ := json.Marshal(pairs)
	os.WriteFile(list, data, 0o644)
	script := filepath.Join(t.TempDir(), "eval.py")
	os.WriteFile(script, []byte(pyEvalMany), 0o644)
	dataDir, err := mnist.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, list, dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	if len(got) != len(want) {
		t.Fatalf("python printed %q for %d nets", out, len(want))
	}
	for i, a := range models.KindExamples() {
		if got[i] != strconv.Itoa(want[i]) {
			t.Errorf("%s: PyTorch scores model.pt %s/10000, Go %d/10000", a.Name, got[i], want[i])
		}
	}
}
