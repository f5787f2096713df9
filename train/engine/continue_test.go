package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/runfolder"
)

// -continue makes a run safe to start again: a missing run trains, a
// finished one is reported and kept (with a line when the settings given
// differ), an unfinished one resumes to the run that never stopped, and
// -overwrite still retrains.
func TestContinue(t *testing.T) {
	whole := shortConfig(t)
	want := mustRun(t, whole)

	c := shortConfig(t)
	c.Continue = true
	var out bytes.Buffer
	first, err := Run(context.Background(), c, &out)
	if err != nil {
		t.Fatal(err)
	}
	sameMetrics(t, first.Epochs, want.Epochs)
	before := snapshot(t, c.Out)

	out.Reset()
	again, err := Run(context.Background(), c, &out)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	wantLine := c.Out + ": finished, kept: best test accuracy "
	if strings.Count(line, "\n") != 0 || !strings.HasPrefix(line, wantLine) || !strings.Contains(line, "last 3 epochs") {
		t.Errorf("second -continue printed %q, want one line starting %q", line, wantLine)
	}
	if again.FinishedAtUTC != first.FinishedAtUTC || again.BestTestAcc != first.BestTestAcc {
		t.Errorf("second -continue returned %+v, want the finished run's result %+v", again, first)
	}
	if after := snapshot(t, c.Out); !sameFiles(before, after) {
		t.Error("a second -continue changed the finished run's files")
	}

	// Other settings: said in one more line, the run kept.
	other := c
	other.Epochs, other.Seed = 1, 7
	other.Overridden = map[string]bool{"epochs": true, "seed": true}
	out.Reset()
	if _, err := Run(context.Background(), other, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "-epochs 1 (the run: 3)") || !strings.Contains(lines[1], "-seed 7 (the run: 1)") || !strings.Contains(lines[1], "-overwrite") {
		t.Errorf("-continue with other settings printed:\n%s", out.String())
	}
	if after := snapshot(t, c.Out); !sameFiles(before, after) {
		t.Error("-continue with other settings changed the finished run's files")
	}

	// -overwrite retrains with the settings given.
	other.Overwrite = true
	res, err := Run(context.Background(), other, &bytes.Buffer{})
	if err != nil || len(res.Epochs) != 1 || res.Seed != 7 {
		t.Fatalf("-continue -overwrite: %v, %+v", err, res)
	}

	// An unfinished run resumes as it started, even when the settings
	// given differ, and ends as the run that never stopped.
	u := shortConfig(t)
	stopAtEpoch(t, u, 1)
	u.Continue = true
	u.Epochs = 5
	u.Overridden = map[string]bool{"epochs": true}
	out.Reset()
	res, err = Run(context.Background(), u, &out)
	if err != nil {
		t.Fatal(err)
	}
	sameMetrics(t, res.Epochs, want.Epochs)
	if !strings.Contains(out.String(), "resuming the unfinished run with its own settings") || !strings.Contains(out.String(), "-epochs 5 (the run: 3)") {
		t.Errorf("resuming with other settings printed:\n%s", out.String())
	}

	// -continue is for -out, not -resume.
	r := shortConfig(t)
	r.Continue, r.Resume = true, u.Out
	if _, err := Run(context.Background(), r, &bytes.Buffer{}); !IsInputError(err) || !strings.Contains(err.Error(), "-continue goes with -out") {
		t.Errorf("-continue -resume: %v", err)
	}
}

// sameFiles compares two snapshots of a folder, the lock file aside (a
// process that holds the folder writes its pid there).
func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, data := range a {
		if name != runfolder.LockFile && !bytes.Equal(data, b[name]) {
			return false
		}
	}
	return true
}

// A run folder has one writer: while it is held, a second run, a resume
// and an overwrite are refused naming the holder, and nothing changes; a
// run that failed before writing leaves no folder behind.
func TestRunFolderLock(t *testing.T) {
	c := shortConfig(t)
	c.Epochs = 1
	mustRun(t, c)
	before := snapshot(t, c.Out)
	held, err := runfolder.Lock(c.Out)
	if err != nil {
		t.Fatal(err)
	}
	again := c
	again.Out = c.Out
	resume := shortConfig(t)
	resume.Resume, resume.Epochs = c.Out, 2
	resume.Overridden = map[string]bool{"epochs": true}
	overwrite := c
	overwrite.Overwrite = true
	for name, cfg := range map[string]Config{"train": again, "-resume": resume, "-overwrite": overwrite} {
		_, err := Run(context.Background(), cfg, &bytes.Buffer{})
		if !IsInputError(err) || !strings.Contains(err.Error(), c.Out+" is in use by pid ") {
			t.Errorf("%s beside a holder: %v", name, err)
		}
	}
	if after := snapshot(t, c.Out); !sameFiles(before, after) {
		t.Error("refused runs changed the folder")
	}
	held.Release()
	if _, err := Run(context.Background(), resume, &bytes.Buffer{}); err != nil {
		t.Errorf("-resume once the folder is free: %v", err)
	}

	// Refused before anything was written: the folder it made goes again.
	bad := shortConfig(t)
	bad.Out = filepath.Join(t.TempDir(), "new")
	bad.DataDir = filepath.Join(t.TempDir(), "missing")
	if _, err := Run(context.Background(), bad, &bytes.Buffer{}); !IsInputError(err) {
		t.Fatalf("missing data: %v", err)
	}
	if _, err := os.Stat(bad.Out); !os.IsNotExist(err) {
		t.Errorf("a refused run left its folder: %v", err)
	}
}

// A run whose estimated memory does not fit is refused before anything is
// allocated, with the estimate and what is available; the sweep sizes its
// pool with the same estimate.
func TestMemoryCheck(t *testing.T) {
	defer func(f func() float64) { availableMB = f }(availableMB)
	availableMB = func() float64 { return 24_000 }
	c := config(t, "step3")
	c.BatchSize = 60_000
	_, err := Run(context.Background(), c, &bytes.Buffer{})
	if !IsInputError(err) || !strings.Contains(err.Error(), "24,000 MB are available") || !strings.Contains(err.Error(), "batch 60000") {
		t.Fatalf("step3 at batch 60,000 with 24 GB: %v", err)
	}
	// By hand from step3's layer table: per image, the input (784) and
	// every layer's output: conv, BatchNorm, ReLU and Dropout at 14×28×28
	// twice (87,808), the pool (2,744), the same four at 14×14×14 twice
	// (21,952), the pool (686), four at 10×5×5 (1,000), three at 16×3×3
	// (432), GAP (16), the 1×1 conv, Flatten and LogSoftmax (30): 115,452
	// floats. Plus 400 MB of libtorch and data, and two of the largest
	// output (14×28×28) per test image.
	want := 400 + (4*115_452*60_000+2*4*10_976*1_000)/float64(1<<20)
	if need := EstimateMB(c); need < want-1 || need > want+1 {
		t.Errorf("step3 at batch 60,000: estimate %.0f MB, want %.0f", need, want)
	}
	c.BatchSize = 64
	c.Subset, c.Epochs = 640, 1
	if _, err := Run(context.Background(), c, &bytes.Buffer{}); err != nil {
		t.Errorf("step3 at batch 64 with 24 GB: %v", err)
	}
}

// An arch file trains into runs/<file name>, not runs/<name inside it>.
func TestDefaultOutOfAnArchFile(t *testing.T) {
	dir := t.TempDir()
	c, err := DefaultConfig("step3")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "mynet.json")
	if err := os.WriteFile(file, c.Net.MarshalFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := DefaultConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if c.Out != filepath.Join("runs", "step3") || f.Out != filepath.Join("runs", "mynet") || f.Net.Name != "step3" {
		t.Errorf("default folders: step3 %q, %s %q (net %q)", c.Out, file, f.Out, f.Net.Name)
	}
}

// A run resumed twice records both resumes, in order.
func TestResumedAtKeepsEveryResume(t *testing.T) {
	c := shortConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	c.afterBatch = interruptAt(1, cancel)
	if _, err := Run(ctx, c, &bytes.Buffer{}); err == nil {
		t.Fatal("the run did not stop in epoch 2")
	}
	r := shortConfig(t)
	r.Resume, r.Overridden = c.Out, map[string]bool{}
	ctx, cancel = context.WithCancel(context.Background())
	r.afterBatch = interruptAt(2, cancel)
	if _, err := Run(ctx, r, &bytes.Buffer{}); err == nil {
		t.Fatal("the resumed run did not stop in epoch 3")
	}
	r.afterBatch = nil
	res := mustRun(t, r)
	if len(res.ResumedAt) != 2 || res.ResumedAt[0] != 1 || res.ResumedAt[1] != 2 {
		t.Errorf("resumed after epochs %v, want [1 2]", res.ResumedAt)
	}
}

// OneCycle with one step in its rising part (pct start × steps = 1) is
// refused before training, where its rate would be NaN: tiny's recipe
// (pct start 0.25, batch 32) on 128 images for one epoch is 4 steps.
func TestOneCycleSingleRisingStepRefused(t *testing.T) {
	c := config(t, "tiny")
	c.Subset, c.Epochs = 128, 1
	_, err := Run(context.Background(), c, &bytes.Buffer{})
	if !IsInputError(err) || !strings.Contains(err.Error(), "ZeroDivisionError") || !strings.Contains(err.Error(), "1 epoch of 4 batches") {
		t.Errorf("tiny on 128 images, 1 epoch: %v", err)
	}
	c.Epochs = 2 // 8 steps, 2 rising
	if _, err := Run(context.Background(), c, &bytes.Buffer{}); err != nil {
		t.Errorf("tiny on 128 images, 2 epochs: %v", err)
	}
}

// A run stopped on purpose at each rung (-stop-after 1, then 2) and
// resumed to its end ends exactly as the run that never stopped: the
// schedule is the recipe's throughout.
func TestStopAfterRungs(t *testing.T) {
	whole := shortConfig(t)
	whole.Epochs = 4
	want := mustRun(t, whole)
	c := shortConfig(t)
	c.Epochs, c.StopAfter = 4, 1
	var out bytes.Buffer
	res, err := Run(context.Background(), c, &out)
	if err != nil || len(res.Epochs) != 1 || runfolder.Finished(c.Out) || !strings.Contains(out.String(), "stopped after epoch 1 of 4 as asked (-stop-after 1); resume with: go run ./train -resume "+c.Out) {
		t.Fatalf("-stop-after 1: %v, %d epochs\n%s", err, len(res.Epochs), out.String())
	}
	for _, stop := range []int{3, 0} {
		r := shortConfig(t)
		r.Resume, r.StopAfter, r.Overridden = c.Out, stop, map[string]bool{"stop-after": true}
		if res, err = Run(context.Background(), r, &bytes.Buffer{}); err != nil {
			t.Fatalf("resume to %d: %v", stop, err)
		}
		if stop > 0 && (len(res.Epochs) != stop || runfolder.Finished(c.Out)) {
			t.Fatalf("resumed with -stop-after %d: %d epochs, finished %v", stop, len(res.Epochs), runfolder.Finished(c.Out))
		}
	}
	if !runfolder.Finished(c.Out) {
		t.Fatal("the last resume did not finish the run")
	}
	sameRun(t, want, res, whole.Out, c.Out)
	if len(res.ResumedAt) != 2 || res.ResumedAt[0] != 1 || res.ResumedAt[1] != 3 {
		t.Errorf("resumed after %v, want [1 3]", res.ResumedAt)
	}
}
