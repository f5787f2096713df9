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
// checkpoint.pt. The arch is arch when given, else the checkpoint's, else
// the one named by summary.json or checkpoint.pt in the same folder. The
// network is in eval mode on the CPU; every problem is an InputError.
func LoadModel(path, arch string) (*nn.Sequential, models.Arch, error) {
	items, texts, err := torch.LoadDictFile(path)
	if err != nil {
		return nil, models.Arch{}, &InputError{Err: err}
	}
	defer func() {
		for _, n := range items {
			n.Tensor.Close()
		}
	}()
	state := items
	if len(texts) > 0 { // a checkpoint: the weights are its model.* entries
		var meta checkpointMeta
		for _, t := range texts {
			if t.Name == "meta" {
				if err := json.Unmarshal([]byte(t.Value), &meta); err != nil {
					return nil, models.Arch{}, inputErr("%s: unreadable meta: %v", path, err)
				}
			}
		}
		if arch == "" {
			arch = meta.Arch
		}
		state = nil
		for _, n := range items {
			if name, ok := strings.CutPrefix(n.Name, "model."); ok {
				state = append(state, torch.Named{Name: name, Tensor: n.Tensor})
			}
		}
	}
	if arch == "" {
		if arch, err = archBeside(path); err != nil {
			return nil, models.Arch{}, err
		}
	}
	a, err := models.Lookup(arch)
	if err != nil {
		return nil, models.Arch{}, &InputError{Err: err}
	}
	net, err := a.Build()
	if err != nil {
		return nil, a, err
	}
	if err := nn.LoadStateDict(net, state); err != nil {
		net.Close()
		return nil, a, inputErr("%s does not fit %s: %v", path, a.Name, err)
	}
	net.Train(false)
	return net, a, nil
}

// archBeside reads the arch of the run folder that holds path.
func archBeside(path string) (string, error) {
	dir := filepath.Dir(path)
	if data, err := os.ReadFile(filepath.Join(dir, SummaryFile)); err == nil {
		var s struct {
			Arch string `json:"arch"`
		}
		if json.Unmarshal(data, &s) == nil && s.Arch != "" {
			return s.Arch, nil
		}
	}
	if ck, err := readCheckpoint(filepath.Join(dir, CheckpointFile)); err == nil {
		defer ck.close()
		return ck.meta.Arch, nil
	}
	return "", inputErr("cannot tell which arch %s holds: no %s or %s beside it; pass -arch", path, SummaryFile, CheckpointFile)
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
