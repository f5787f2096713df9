package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/transforms"
)

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
	net, a, err := runfolder.LoadModel(path, arch)
	if err != nil {
		return err
	}
	defer net.Close()
	if err := net.To(device); err != nil {
		return err
	}
	ds, err := mnist.Load(cfg.DataDir)
	if err != nil {
		return &runfolder.InputError{Err: err}
	}
	loader, err := transforms.NewLoader(ds.Test, transforms.LoaderConfig{BatchSize: min(cfg.TestBatchSize, ds.Test.Len()), Transform: transforms.MNISTNormalize})
	if err != nil {
		return &runfolder.InputError{Err: err}
	}
	st := &stepper{net: net, device: device, evalHook: cfg.afterEvalBatch}
	t, d, err := st.evaluate(ctx, net, loader, false)
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
