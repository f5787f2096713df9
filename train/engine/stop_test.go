package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/tinydigits/tinydigits/internal/filetest"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch"
)

// finishRun runs the resume that completes an interrupted run, with no flags
// but the folder: what a user types.
func finishRun(t *testing.T, dir string) *runfolder.Result {
	t.Helper()
	r, err := DefaultConfig("step3")
	if err != nil {
		t.Fatal(err)
	}
	r.Quiet, r.Resume, r.Overridden = true, dir, map[string]bool{}
	var out bytes.Buffer
	res, err := Run(context.Background(), r, &out)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out.String())
	}
	return res
}

// sameRun checks that two finished run folders hold the same results: the
// metrics, the summary's figures and confusion matrix, and the model's
// weights.
func sameRun(t *testing.T, a, b *runfolder.Result, dirA, dirB string) {
	t.Helper()
	sameMetrics(t, a.Epochs, b.Epochs)
	if a.BestTestAcc != b.BestTestAcc || !slices.Equal(a.LastTestAccs, b.LastTestAccs) || !reflect.DeepEqual(a.Confusion, b.Confusion) {
		t.Errorf("summaries differ: %v %v vs %v %v", a.BestTestAcc, a.LastTestAccs, b.BestTestAcc, b.LastTestAccs)
	}
	var sums [2]runfolder.Result
	for i, dir := range []string{dirA, dirB} {
		data, err := os.ReadFile(filepath.Join(dir, runfolder.SummaryFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &sums[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(sums[0].Confusion, sums[1].Confusion) || len(sums[0].Epochs) != len(sums[1].Epochs) {
		t.Error("summary.json files differ")
	}
	var weights [2]*loadedDict
	for i, dir := range []string{dirA, dirB} {
		w, err := loadDictValues(filepath.Join(dir, runfolder.ModelFile))
		if err != nil {
			t.Fatal(err)
		}
		weights[i] = w
	}
	if !reflect.DeepEqual(weights[0], weights[1]) {
		t.Error("model.pt weights differ")
	}
}

type loadedDict struct {
	Names  []string
	Values [][]float32
}

func loadDictValues(path string) (*loadedDict, error) {
	items, _, err := torch.LoadDictFile(path)
	if err != nil {
		return nil, err
	}
	d := &loadedDict{}
	for _, it := range items {
		f, err := it.Tensor.To(torch.CPU)
		if err == nil {
			var v []float32
			if it.Tensor.DType() == torch.Float32 {
				v, err = f.Float32s()
			}
			d.Names, d.Values = append(d.Names, it.Name), append(d.Values, v)
			f.Close()
		}
		it.Tensor.Close()
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// A stop anywhere in a run leaves a folder that a plain -resume finishes to
// exactly the uninterrupted run: inside the first epoch (before any epoch
// finished), inside the last epoch's training, during the last evaluation,
// and a kill after the last checkpoint (summary.json and model.pt missing).
// The run uses one thread and the resume names none: it must use the
// run's thread count, not this machine's default.
func TestEveryStopCanBeFinished(t *testing.T) {
	base := shortConfig(t)
	base.Threads = 1
	whole := mustRun(t, base)
	last := base.Epochs - 1
	for _, tc := range []struct {
		name        string
		epoch, at   int  // where to stop: epoch (0-based) and batch
		inEval      bool // stop during that epoch's evaluation instead
		interrupted bool // Run reports an interruption (else it finishes)
		saved       int  // epochs in the checkpoint after the stop
	}{
		{"first epoch, batch 3", 0, 3, false, true, 0},
		{"last epoch, batch 0", last, 0, false, true, last},
		{"last epoch, batch 6", last, 6, false, true, last},
		{"evaluation of epoch 2", last - 1, 0, true, true, last},
		{"last evaluation", last, 0, true, false, last + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			c.Out = t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			current := -1
			c.afterBatch = func(e, b int, _ *stepper) {
				current = e
				if !tc.inEval && e == tc.epoch && b == tc.at {
					cancel()
				}
			}
			c.afterEvalBatch = func(b int) {
				if tc.inEval && current == tc.epoch && b == tc.at {
					cancel()
				}
			}
			res, err := Run(ctx, c, &bytes.Buffer{})
			var intr *Interrupted
			switch {
			case tc.interrupted && (!errors.As(err, &intr) || intr.Epoch != tc.saved || !intr.Checkpoint || !strings.Contains(err.Error(), "-resume "+c.Out)):
				t.Fatalf("want an interruption after %d epochs, got %v", tc.saved, err)
			case !tc.interrupted && err != nil:
				t.Fatalf("a stop after the last checkpoint should finish the run: %v", err)
			}
			ck, err := runfolder.ReadCheckpoint(filepath.Join(c.Out, runfolder.CheckpointFile))
			if err != nil {
				t.Fatal(err)
			}
			if ck.Meta.Epoch != tc.saved || ck.Meta.Run.Threads != 1 {
				t.Errorf("checkpoint holds %d epochs at %d threads", ck.Meta.Epoch, ck.Meta.Run.Threads)
			}
			ck.Close()
			if tc.interrupted {
				res = finishRun(t, c.Out)
			}
			sameRun(t, whole, res, base.Out, c.Out)
		})
	}
	t.Run("killed after the last checkpoint", func(t *testing.T) {
		dir := t.TempDir()
		for name, b := range snapshot(t, base.Out) {
			if name != runfolder.SummaryFile && name != runfolder.ModelFile {
				os.WriteFile(filepath.Join(dir, name), b, 0o644)
			}
		}
		// A killed write's temporary file, which the resume removes.
		os.WriteFile(filepath.Join(dir, ".summary.json.tmp123"), []byte("{"), 0o644)
		res := finishRun(t, dir)
		sameRun(t, whole, res, base.Out, dir)
		if _, err := os.Stat(filepath.Join(dir, ".summary.json.tmp123")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the stale temporary file is still there: %v", err)
		}
	})
}

// -threads given on resume overrides the run's, and the banner marks it.
func TestResumeThreadsOverride(t *testing.T) {
	c := shortConfig(t)
	c.Threads, c.Epochs = 1, 2
	stopAtEpoch(t, c, 1)
	r := config(t, "step3")
	r.Resume, r.Threads, r.Overridden = c.Out, 2, map[string]bool{"threads": true}
	var out bytes.Buffer
	res, err := Run(context.Background(), r, &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Threads != 2 || !strings.Contains(out.String(), "2 threads*") {
		t.Errorf("threads %d; banner:\n%s", res.Threads, out.String())
	}
}

// Every field of the checkpoint's meta, the recipe's included, is required:
// a checkpoint without one, with a null, or with a value of the wrong type
// is refused in one line that names the field.
func TestCheckpointMetaFieldsRequired(t *testing.T) {
	c := shortConfig(t)
	c.Epochs = 1
	mustRun(t, c)
	items, texts, err := torch.LoadDictFile(filepath.Join(c.Out, runfolder.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, it := range items {
			it.Tensor.Close()
		}
	}()
	var meta map[string]any
	if err := json.Unmarshal([]byte(texts[0].Value), &meta); err != nil {
		t.Fatal(err)
	}
	// The field names come from the JSON itself, so a field added later is
	// covered without editing this test.
	var paths [][]string
	var walk func(prefix []string, m map[string]any)
	walk = func(prefix []string, m map[string]any) {
		for k, v := range m {
			p := append(slices.Clone(prefix), k)
			paths = append(paths, p)
			if sub, ok := v.(map[string]any); ok {
				walk(p, sub)
			}
		}
	}
	walk(nil, meta)
	if len(paths) < 25 {
		t.Fatalf("only %d fields in the meta", len(paths))
	}
	edit := func(p []string, f func(m map[string]any, key string)) []byte {
		var m map[string]any
		json.Unmarshal([]byte(texts[0].Value), &m)
		inner := m
		for _, k := range p[:len(p)-1] {
			inner = inner[k].(map[string]any)
		}
		f(inner, p[len(p)-1])
		js, _ := json.Marshal(m)
		data, err := torch.SaveDict(items, []torch.Text{{Name: "meta", Value: string(js)}})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	// Fields added after the format's first version (omitempty) may be
	// absent, meaning off: step3's recipe has one (ema, and so the meta's
	// averaged); its absence must leave a consistent checkpoint or be
	// refused in one line.
	optional := optionalFields(reflect.TypeOf(runfolder.Meta{}), "")
	if !optional["arch.recipe.ema"] || !optional["averaged"] {
		t.Fatalf("optional fields %v", optional)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, runfolder.CheckpointFile)
	for _, p := range paths {
		name := strings.Join(p, ".")
		for kind, data := range map[string][]byte{
			"missing":    edit(p, func(m map[string]any, k string) { delete(m, k) }),
			"null":       edit(p, func(m map[string]any, k string) { m[k] = nil }),
			"wrong type": edit(p, func(m map[string]any, k string) { m[k] = []any{true} }),
		} {
			os.WriteFile(path, data, 0o644)
			ck, err := runfolder.ReadCheckpoint(path)
			if kind == "missing" && optional[name] {
				if err == nil {
					ck.Close()
				} else if !IsInputError(err) || strings.Contains(err.Error(), "\n") {
					t.Errorf("missing %s: want acceptance or a one-line input error, got %v", name, err)
				}
				continue
			}
			if err == nil {
				ck.Close()
				t.Errorf("%s %s: accepted", kind, name)
				continue
			}
			// A layer list of the wrong type is named by its layer.
			named := strings.Contains(err.Error(), `"`+name+`"`) || name == "arch.layers" && strings.Contains(err.Error(), "layer")
			if !IsInputError(err) || !named || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s %s: want a one-line input error naming the field, got %v", kind, name, err)
			}
		}
	}
}

// optionalFields lists the JSON paths of t's omitempty fields.
func optionalFields(t reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if strings.Contains(opts, "omitempty") {
			out[prefix+name] = true
		}
		if f.Type.Kind() == reflect.Struct {
			for k := range optionalFields(f.Type, prefix+name+".") {
				out[k] = true
			}
		}
	}
	return out
}

// Every file a run writes has ordinary permissions (0644 less the umask),
// so a run written by root in a container is readable by the host's user.
func TestRunFilesHaveOrdinaryPermissions(t *testing.T) {
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	want := fs.FileMode(0o644) &^ fs.FileMode(umask)
	c := shortConfig(t)
	c.Epochs = 1
	mustRun(t, c)
	entries, err := os.ReadDir(c.Out)
	if err != nil {
		t.Fatal(err)
	}
	// The run's files and the folder's lock.
	if len(entries) != len(runfolder.Files)+1 {
		t.Errorf("%d files, want %d", len(entries), len(runfolder.Files)+1)
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", e.Name(), info.Mode().Perm(), want)
		}
	}

	// -overwrite removes what killed writes left behind.
	for _, name := range []string{".checkpoint.pt.tmp42", ".curves.png.tmp7"} {
		os.WriteFile(filepath.Join(c.Out, name), nil, 0o644)
	}
	c.Overwrite = true
	mustRun(t, c)
	entries, _ = os.ReadDir(c.Out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("-overwrite left %s", e.Name())
		}
	}
}

// -eval stops on a signal like training: an Interrupted, before or during
// the evaluation.
func TestEvalStops(t *testing.T) {
	c := shortConfig(t)
	c.Epochs = 1
	mustRun(t, c)
	model := filepath.Join(c.Out, runfolder.ModelFile)
	e := config(t, "step3")
	e.Overridden = map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var intr *Interrupted
	if err := Evaluate(ctx, model, e, &bytes.Buffer{}); !errors.As(err, &intr) || !intr.Eval {
		t.Errorf("cancelled before: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	e.afterEvalBatch = func(b int) {
		if b == 2 {
			cancel()
		}
	}
	var out bytes.Buffer
	if err := Evaluate(ctx, model, e, &out); !errors.As(err, &intr) || !intr.Eval || out.Len() != 0 {
		t.Errorf("cancelled during: %v\n%s", err, out.String())
	}
}

// With -holdout the files and the banner say "validation", and flags the
// user set are marked in the banner.
func TestHoldoutLabelsAndMarks(t *testing.T) {
	c := shortConfig(t)
	c.Epochs, c.Holdout, c.Seed = 1, 500, 7
	c.Overridden = map[string]bool{"holdout": true, "subset": true, "seed": true}
	var out bytes.Buffer
	res, err := Run(context.Background(), c, &out)
	if err != nil {
		t.Fatal(err)
	}
	csv, _ := os.ReadFile(filepath.Join(c.Out, runfolder.MetricsFile))
	header, _, _ := strings.Cut(string(csv), "\n")
	if !strings.Contains(header, "val_loss,val_acc") || strings.Contains(header, "test") {
		t.Errorf("metrics.csv header: %s", header)
	}
	filetest.Contains(t, "output", out.String(), "the first 640*", "the last 500* training images", "seed 7*", "validation loss")
	if res.EvaluatedOn != "validation" || res.TestImages != 500 {
		t.Errorf("evaluated on %s, %d images", res.EvaluatedOn, res.TestImages)
	}
}
