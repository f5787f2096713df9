package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/filetest"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch"
)

// shortConfig is a 3-epoch step3 run on 640 images, fast enough for tests.
func shortConfig(t *testing.T) Config {
	c := config(t, "step3")
	c.Subset, c.Epochs, c.Threads = 640, 3, 2
	return c
}

// interruptAt returns a hook that cancels the run's context at the start of
// epoch (0-based), which Run sees at the next batch boundary.
func interruptAt(epoch int, cancel context.CancelFunc) func(int, int, *stepper) {
	return func(e, batch int, _ *stepper) {
		if e == epoch && batch == 0 {
			cancel()
		}
	}
}

// stopAtEpoch runs c and stops it at the first batch of epoch (as
// interruptAt counts), failing the test when it does not stop; c's run
// folder then holds the checkpoint of the epochs before.
func stopAtEpoch(t *testing.T, c Config, epoch int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.afterBatch = interruptAt(epoch, cancel)
	if _, err := Run(ctx, c, &bytes.Buffer{}); err == nil {
		t.Fatalf("the run did not stop at epoch %d", epoch)
	}
}

func sameMetrics(t *testing.T, a, b []runfolder.EpochMetrics) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d epochs vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.LR != y.LR || x.TrainLoss != y.TrainLoss || x.TrainAcc != y.TrainAcc || x.TestLoss != y.TestLoss || x.TestCorrect != y.TestCorrect {
			t.Errorf("epoch %d differs:\n%+v\n%+v", i+1, x, y)
		}
	}
}

// A run stopped during epoch 2 and resumed ends with exactly the metrics of
// the run that was never stopped.
func TestResumeMatchesUninterruptedRun(t *testing.T) {
	whole, err := Run(context.Background(), shortConfig(t), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}

	c := shortConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	c.afterBatch = interruptAt(1, cancel)
	_, err = Run(ctx, c, &bytes.Buffer{})
	var intr *Interrupted
	if !errors.As(err, &intr) || intr.Epoch != 1 || !intr.Checkpoint || !strings.Contains(err.Error(), "-resume "+c.Out) {
		t.Fatalf("interrupted run: %v", err)
	}
	if csv, _ := os.ReadFile(filepath.Join(c.Out, runfolder.MetricsFile)); strings.Count(string(csv), "\n") != 2 {
		t.Errorf("metrics.csv after the interruption:\n%s", csv)
	}
	if _, err := os.Stat(filepath.Join(c.Out, runfolder.CurvesFile)); err != nil {
		t.Errorf("no curves on interruption: %v", err)
	}

	r := config(t, "step3")
	r.Resume, r.Threads = c.Out, 2
	var out bytes.Buffer
	resumed, err := Run(context.Background(), r, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "resuming "+c.Out+" after epoch 1 of 3") {
		t.Errorf("output:\n%s", out.String())
	}
	sameMetrics(t, whole.Epochs, resumed.Epochs)
	if whole.BestTestAcc != resumed.BestTestAcc || whole.Confusion[3][5] != resumed.Confusion[3][5] {
		t.Errorf("summaries differ: %v vs %v", whole.BestTestAcc, resumed.BestTestAcc)
	}

	// A finished run resumes only to train further.
	r.Overridden = nil
	if _, err := Run(context.Background(), r, &bytes.Buffer{}); !IsInputError(err) || !strings.Contains(err.Error(), "already finished its 3 epochs") {
		t.Errorf("resuming a finished run: %v", err)
	}
	r.Epochs, r.Overridden = 4, map[string]bool{"epochs": true}
	more, err := Run(context.Background(), r, &bytes.Buffer{})
	if err != nil || len(more.Epochs) != 4 {
		t.Errorf("extending to 4 epochs: %v", err)
	}
}

// snapshot reads every file of a folder.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

func TestResumeRejectsIncompatibleCheckpoints(t *testing.T) {
	c := plainConfig(t)
	stopAtEpoch(t, c, 1)
	good, err := os.ReadFile(filepath.Join(c.Out, runfolder.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	items, texts, err := torch.LoadDict(good)
	if err != nil {
		t.Fatal(err)
	}
	var noRNG []torch.Named
	for _, n := range items {
		if n.Name != "rng.cpu" {
			noRNG = append(noRNG, n)
		}
	}
	withoutRNG, err := torch.SaveDict(noRNG, texts)
	if err != nil {
		t.Fatal(err)
	}
	weightsOnly, err := torch.SaveTensors(noRNG)
	if err != nil {
		t.Fatal(err)
	}
	var meta runfolder.Meta
	json.Unmarshal([]byte(texts[0].Value), &meta)
	meta.Arch, _ = models.Lookup("step2")
	meta.Params = meta.Arch.Params()
	js, _ := json.Marshal(meta)
	wrongArch, err := torch.SaveDict(items, []torch.Text{{Name: "meta", Value: string(js)}})
	if err != nil {
		t.Fatal(err)
	}
	// A recipe that averages the weights, on a checkpoint without them.
	json.Unmarshal([]byte(texts[0].Value), &meta)
	meta.Arch.Recipe.EMA = 0.999
	js, _ = json.Marshal(meta)
	noAverage, err := torch.SaveDict(items, []torch.Text{{Name: "meta", Value: string(js)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range items {
		n.Tensor.Close()
	}

	for _, tc := range []struct {
		name  string
		data  []byte
		tweak func(*Config)
		want  string
	}{
		{"truncated", good[:len(good)/2], nil, "truncated or corrupt: the zip's central directory is missing"},
		{"garbage", []byte("not a checkpoint at all"), nil, "not a PyTorch file"},
		{"missing rng", withoutRNG, nil, `missing field "rng.cpu"`},
		{"weights only", weightsOnly, nil, `missing field "meta"`},
		{"other arch", wrongArch, nil, "does not fit step2"},
		{"averaging without the average", noAverage, nil, `missing field "averaged" (the recipe averages the weights)`},
		{"-arch differs", good, func(c *Config) { c.Arch = "step1"; c.Overridden["arch"] = true }, "holds a step3 run, not step1"},
		{"recipe change", good, func(c *Config) { c.LR = 0.5; c.Overridden["lr"] = true }, "-lr cannot change"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range snapshot(t, c.Out) {
				os.WriteFile(filepath.Join(dir, name), b, 0o644)
			}
			os.WriteFile(filepath.Join(dir, runfolder.CheckpointFile), tc.data, 0o644)
			before := snapshot(t, dir)
			r := config(t, "step3")
			r.Resume, r.Overridden = dir, map[string]bool{}
			if tc.tweak != nil {
				tc.tweak(&r)
			}
			_, err := Run(context.Background(), r, &bytes.Buffer{})
			if !IsInputError(err) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("want a one-line input error with %q, got %v", tc.want, err)
			}
			after := snapshot(t, dir)
			for name, b := range before {
				if !bytes.Equal(after[name], b) {
					t.Errorf("%s changed", name)
				}
			}
			if len(after) != len(before) {
				t.Errorf("files before %d, after %d", len(before), len(after))
			}
		})
	}
	if _, err := Run(context.Background(), Config{Resume: t.TempDir()}, &bytes.Buffer{}); !IsInputError(err) || !strings.Contains(err.Error(), "no checkpoint.pt") {
		t.Errorf("empty folder: %v", err)
	}
}

// A loss that turns NaN or infinite stops the run, naming epoch, batch and
// lr, and the checkpoint of the last finished epoch stays.
func TestNonFiniteLossStops(t *testing.T) {
	c := config(t, "step1") // no BatchNorm to tame a huge step
	c.Subset, c.Epochs, c.Threads = 512, 3, 2
	c.afterBatch = func(epoch, batch int, s *stepper) {
		if epoch == 1 && batch == 0 {
			s.opt.SetLR(1e12)
		}
	}
	_, err := Run(context.Background(), c, &bytes.Buffer{})
	var nf *errNotFinite
	if !errors.As(err, &nf) || nf.epoch != 2 || IsInputError(err) {
		t.Fatalf("want a non-finite loss in epoch 2, got %v", err)
	}
	if !strings.Contains(err.Error(), "epoch 2, batch") || !strings.Contains(err.Error(), "lr 0.01") || !strings.Contains(err.Error(), "checkpoint.pt (epoch 1)") {
		t.Errorf("message: %v", err)
	}
	ck, err := runfolder.ReadCheckpoint(filepath.Join(c.Out, runfolder.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if ck.Meta.Epoch != 1 {
		t.Errorf("checkpoint holds epoch %d", ck.Meta.Epoch)
	}
}

func TestRunFolderIsNotOverwritten(t *testing.T) {
	c := shortConfig(t)
	c.Epochs = 1
	mustRun(t, c)
	before := snapshot(t, c.Out)
	_, err := Run(context.Background(), c, &bytes.Buffer{})
	if !IsInputError(err) || !strings.Contains(err.Error(), "already holds a finished run") || !strings.Contains(err.Error(), "-overwrite") {
		t.Errorf("second run into the same folder: %v", err)
	}
	if after := snapshot(t, c.Out); !bytes.Equal(after[runfolder.SummaryFile], before[runfolder.SummaryFile]) {
		t.Error("the refused run changed summary.json")
	}
	c.Overwrite = true
	if _, err := Run(context.Background(), c, &bytes.Buffer{}); err != nil {
		t.Errorf("-overwrite: %v", err)
	}
	// An unfinished run: only a checkpoint.
	os.Remove(filepath.Join(c.Out, runfolder.SummaryFile))
	c.Overwrite = false
	if _, err := Run(context.Background(), c, &bytes.Buffer{}); !IsInputError(err) || !strings.Contains(err.Error(), "-resume "+c.Out) {
		t.Errorf("unfinished run: %v", err)
	}
}

// The run folder's pictures are PNGs, the confusion matrix in summary.json
// counts every test image, and -eval agrees with the run's last epoch.
func TestPicturesSummaryAndEval(t *testing.T) {
	c := shortConfig(t)
	c.Epochs = 2
	res := mustRun(t, c)
	for _, name := range []string{runfolder.CurvesFile, runfolder.ConfusionFile, runfolder.WrongFile} {
		filetest.PNG(t, filepath.Join(c.Out, name), 300)
	}
	data, _ := os.ReadFile(filepath.Join(c.Out, runfolder.SummaryFile))
	var s runfolder.Result
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	total, diag := 0, 0
	for r, row := range s.Confusion {
		for col, n := range row {
			total += n
			if r == col {
				diag += n
			}
		}
	}
	last := res.Epochs[len(res.Epochs)-1]
	if total != 10000 || diag != last.TestCorrect || len(s.ClassAcc) != 10 {
		t.Errorf("confusion counts %d images, %d right; the run says %d", total, diag, last.TestCorrect)
	}

	var out bytes.Buffer
	eval := config(t, "step3")
	eval.Overridden = map[string]bool{}
	if err := Evaluate(context.Background(), filepath.Join(c.Out, runfolder.ModelFile), eval, &out); err != nil {
		t.Fatal(err)
	}
	right := "(" + strconv.Itoa(last.TestCorrect) + "/10000)"
	if !strings.Contains(out.String(), right) || !strings.Contains(out.String(), "per class") || !strings.Contains(out.String(), "confusion") {
		t.Errorf("-eval of the run's model, want %s:\n%s", right, out.String())
	}
	// The checkpoint evaluates the same way.
	out.Reset()
	if err := Evaluate(context.Background(), filepath.Join(c.Out, runfolder.CheckpointFile), eval, &out); err != nil || !strings.Contains(out.String(), right) {
		t.Errorf("-eval of checkpoint.pt: %v\n%s", err, out.String())
	}
	// The wrong arch is refused, naming the mismatch.
	eval.Arch, eval.Overridden["arch"] = "step2", true
	if err := Evaluate(context.Background(), filepath.Join(c.Out, runfolder.ModelFile), eval, &out); !IsInputError(err) || !strings.Contains(err.Error(), "does not fit step2") {
		t.Errorf("step3 weights as step2: %v", err)
	}
}

// mustRun runs c to its end with its output discarded and fails the test
// on an error.
func mustRun(t *testing.T, c Config) *runfolder.Result {
	t.Helper()
	res, err := Run(context.Background(), c, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
