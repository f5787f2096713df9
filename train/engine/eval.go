package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/transforms"
)

// LoadModel builds the network saved at path: a model.pt (state dict) or a
// checkpoint.pt. The net is arch when given (a registered name or an arch
// file), else the checkpoint's own, else the run folder's arch.json, else
// the registered arch that the folder's summary.json or checkpoint names (a
// run folder of an earlier version). The network is in eval mode on the
// CPU; every problem is an InputError.
func LoadModel(path, arch string) (*nn.Sequential, models.Arch, error) {
	var a models.Arch
	items, texts, err := torch.LoadDictFile(path)
	if err != nil {
		return nil, a, &InputError{Err: err}
	}
	defer func() {
		for _, n := range items {
			n.Tensor.Close()
		}
	}()
	known := false
	if arch != "" {
		if a, err = models.Resolve(arch); err != nil {
			return nil, a, &InputError{Err: err}
		}
		known = true
	}
	state := items
	if len(texts) > 0 { // a checkpoint: the weights are its model.* entries
		if !known {
			if a, err = checkpointArch(texts); err != nil {
				return nil, a, inputErr("%s: %v", path, err)
			}
			known = true
		}
		state = nil
		for _, n := range items {
			if name, ok := strings.CutPrefix(n.Name, "model."); ok {
				state = append(state, torch.Named{Name: name, Tensor: n.Tensor})
			}
		}
	}
	if !known {
		if a, err = archBeside(path); err != nil {
			return nil, a, err
		}
	}
	net, err := a.Build()
	if err != nil {
		return nil, a, &InputError{Err: err}
	}
	if err := nn.LoadStateDict(net, state); err != nil {
		net.Close()
		return nil, a, inputErr("%s does not fit %s: %v", path, a.Name, err)
	}
	net.Train(false)
	return net, a, nil
}

// checkpointArch reads the arch out of a checkpoint's meta: the whole net
// (this version), or a registered name (format 1).
func checkpointArch(texts []torch.Text) (models.Arch, error) {
	for _, t := range texts {
		if t.Name != "meta" {
			continue
		}
		var meta struct {
			Arch json.RawMessage `json:"arch"`
		}
		if err := json.Unmarshal([]byte(t.Value), &meta); err != nil || len(meta.Arch) == 0 {
			return models.Arch{}, fmt.Errorf("meta: no arch")
		}
		var name string
		if json.Unmarshal(meta.Arch, &name) == nil {
			return models.Lookup(name)
		}
		var a models.Arch
		if err := json.Unmarshal(meta.Arch, &a); err != nil {
			return a, fmt.Errorf("meta: arch: %v", err)
		}
		a.Recipe = a.Recipe.WithDefaults()
		return a, a.Check()
	}
	return models.Arch{}, fmt.Errorf("no meta: not a tinydigits checkpoint")
}

// archBeside reads the arch of the run folder that holds path: its
// arch.json, or, for a folder of an earlier version, the registered arch
// its summary.json or checkpoint.pt names.
func archBeside(path string) (models.Arch, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(filepath.Join(dir, ArchFile)); err == nil {
		a, err := models.ReadFile(filepath.Join(dir, ArchFile))
		if err != nil {
			return a, &InputError{Err: err}
		}
		return a, nil
	}
	if data, err := os.ReadFile(filepath.Join(dir, SummaryFile)); err == nil {
		var s struct {
			Arch string `json:"arch"`
		}
		if json.Unmarshal(data, &s) == nil && s.Arch != "" {
			a, err := models.Lookup(s.Arch)
			if err != nil {
				return a, &InputError{Err: err}
			}
			return a, nil
		}
	}
	if items, texts, err := torch.LoadDictFile(filepath.Join(dir, CheckpointFile)); err == nil {
		for _, n := range items {
			n.Tensor.Close()
		}
		if a, err := checkpointArch(texts); err == nil {
			return a, nil
		}
	}
	return models.Arch{}, inputErr("cannot tell which arch %s holds: no %s, %s or %s beside it; pass -arch", path, ArchFile, SummaryFile, CheckpointFile)
}

// Evaluate loads the model at path and reports its accuracy, loss,
// per-class accuracy and confusion matrix on the test set. cfg gives the
// device, threads, data folder and test batch size (and -arch if set).
func Evaluate(ctx context.Context, path string, cfg Config, out io.Writer) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	arch := ""
	if cfg.Overridden["arch"] {
		arch = cfg.Arch
	}
	if cfg.TestBatchSize < 1 {
		return inputErr("-test-batch-size must be at least 1, got %d", cfg.TestBatchSize)
	}
	threads := max(1, cfg.Threads)
	if threads > MaxThreads {
		return inputErr("-threads must be in [1, %d], got %d", MaxThreads, threads)
	}
	device, err := startLibtorch(cfg, threads)
	if err != nil {
		return err
	}
	net, a, err := LoadModel(path, arch)
	if err != nil {
		return err
	}
	defer net.Close()
	if err := net.To(device); err != nil {
		return err
	}
	ds, err := mnist.Load(cfg.DataDir)
	if err != nil {
		return &InputError{Err: err}
	}
	loader, err := transforms.NewLoader(ds.Test, transforms.LoaderConfig{BatchSize: min(cfg.TestBatchSize, ds.Test.Len()), Transform: transforms.MNISTNormalize})
	if err != nil {
		return &InputError{Err: err}
	}
	st := &stepper{net: net, device: device, evalHook: cfg.afterEvalBatch}
	t, d, err := st.evaluate(ctx, loader, false)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Interrupted{Eval: true}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s (%s, %s parameters) on %d test images, %s\n", path, a.Name, models.Thousands(nn.NumParams(net)), t.seen, device)
	fmt.Fprintf(out, "accuracy %.2f%% (%d/%d), loss %.4f\n", 100*float64(t.correct)/float64(t.seen), t.correct, t.seen, t.loss/float64(t.seen))
	acc := d.classAccuracy()
	parts := make([]string, 10)
	for c := range parts {
		parts[c] = fmt.Sprintf("%d: %.2f", c, acc[c])
	}
	fmt.Fprintf(out, "per class (%%): %s\n", strings.Join(parts, "  "))
	fmt.Fprint(out, confusionText(d.confusion()))
	return nil
}

// confusionText writes the confusion matrix: rows are true digits, columns
// predictions.
func confusionText(m [10][10]int) string {
	var b strings.Builder
	b.WriteString("confusion (rows true, columns predicted):\n      ")
	for c := range 10 {
		fmt.Fprintf(&b, "%6d", c)
	}
	b.WriteString("\n")
	for r := range 10 {
		fmt.Fprintf(&b, "%6d", r)
		for c := range 10 {
			fmt.Fprintf(&b, "%6d", m[r][c])
		}
		b.WriteString("\n")
	}
	return b.String()
}
