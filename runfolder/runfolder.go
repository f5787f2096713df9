// Package runfolder is the format of a run folder, the one place that knows
// it: the training engine writes through it, and -eval, -resume, predict and
// the sweep read through it. It does not import the engine.
//
//	arch.json      the net and the recipe as run (models.Arch)
//	checkpoint.pt  weights, optimizer and RNG state, and the meta (Meta)
//	metrics.csv    one row per finished epoch
//	model.pt       the final state dict, in PyTorch's format
//	summary.json   the results (Result); written last, it marks the run finished
//	curves.png, confusion.png, misclassified.png
//
// Every file is written through internal/atomicfile.
package runfolder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/torch/nn"
)

// What a run evaluates on: the test set, or -holdout's validation images
// (Result.EvaluatedOn).
const (
	EvalTest       = "test"
	EvalValidation = "validation"
)

// LastEpochs is how many of a run's last epochs must each reach the target
// for the run to hold it (Result.Consistent, LastTestAccs).
const LastEpochs = 3

// Files lists the files a run writes into its folder.
var Files = []string{ArchFile, CheckpointFile, MetricsFile, SummaryFile, ModelFile, CurvesFile, ConfusionFile, WrongFile}

// InputError marks a failure caused by the user's input (flags, data files,
// device, a damaged or foreign file): commands report it in one line and
// exit with status 2.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputf(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// IsInputError reports whether err is (or wraps) an InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// EpochMetrics is one row of metrics.csv.
type EpochMetrics struct {
	Epoch       int     `json:"epoch"` // 1-based
	LR          float64 `json:"lr"`
	TrainLoss   float64 `json:"train_loss"`
	TrainAcc    float64 `json:"train_acc"` // percent
	TestLoss    float64 `json:"test_loss"`
	TestAcc     float64 `json:"test_acc"` // percent
	TestCorrect int     `json:"test_correct"`
	TestTotal   int     `json:"test_total"`
	Seconds     float64 `json:"seconds"`          // training time of the epoch
	ImgPerSec   float64 `json:"img_per_s"`        // training images per second
	RSSMB       float64 `json:"rss_mb"`           // resident memory at the epoch's end
	GPUMB       float64 `json:"gpu_mb,omitempty"` // GPU memory in use at the epoch's end (the CUDA driver's count)
	// A run that averages its weights (-ema, -swa-start) reports the
	// averaged model in TestLoss and TestAcc, and the trained weights here.
	RawTestLoss float64 `json:"raw_test_loss,omitempty"`
	RawTestAcc  float64 `json:"raw_test_acc,omitempty"`
}

// Result is what a run measured; summary.json holds it.
type Result struct {
	Arch          string         `json:"arch"`
	Params        int64          `json:"params"`
	Seed          uint64         `json:"seed"`
	Device        string         `json:"device"`
	Threads       int            `json:"threads"`
	Libtorch      string         `json:"libtorch"`
	Recipe        models.Recipe  `json:"recipe"`
	RecipeLine    string         `json:"recipe_line"`
	Target        float64        `json:"target"`
	BestTestAcc   float64        `json:"best_test_acc"`
	BestEpoch     int            `json:"best_epoch"`
	BestTrainAcc  float64        `json:"best_train_acc"`
	LastTrainAcc  float64        `json:"last_train_acc"`
	LastTestAccs  []float64      `json:"last3_test_acc"`
	Consistent    bool           `json:"consistent"` // each of the LastEpochs last epochs ≥ target
	WallSeconds   float64        `json:"wall_seconds"`
	Epochs        []EpochMetrics `json:"epochs"`
	Confusion     [][]int        `json:"confusion"` // [true][predicted], last epoch
	ClassAcc      []float64      `json:"class_acc"` // percent per digit, last epoch
	DataDir       string         `json:"data_dir"`
	TrainImages   int            `json:"train_images"`
	TestImages    int            `json:"test_images"`
	EvaluatedOn   string         `json:"evaluated_on"` // EvalTest, or EvalValidation: held-out training images
	ResumedAt     []int          `json:"resumed_after_epochs,omitempty"`
	FinishedAtUTC string         `json:"finished_at"`
}

// ReadResult reads a folder's summary.json.
func ReadResult(dir string) (*Result, error) {
	data, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SummaryFile), err)
	}
	return &r, nil
}

// WriteResult writes summary.json.
func WriteResult(dir string, r *Result) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, SummaryFile), append(data, '\n'))
}

// WriteArch writes arch.json.
func WriteArch(dir string, a models.Arch) error {
	return atomicfile.Write(filepath.Join(dir, ArchFile), a.MarshalFile())
}

// WriteMetrics writes metrics.csv; its evaluation columns say what was
// evaluated: test_loss and test_acc, or val_loss and val_acc with -holdout.
func WriteMetrics(dir string, rows []EpochMetrics, evalName string) error {
	ev := EvalTest
	if evalName == EvalValidation {
		ev = "val"
	}
	// A run that averages its weights adds the trained weights' figures.
	raw := len(rows) > 0 && rows[0].RawTestAcc > 0
	var b strings.Builder
	fmt.Fprintf(&b, "epoch,lr,train_loss,train_acc,%s_loss,%s_acc,seconds,img_per_s,rss_mb,gpu_mb", ev, ev)
	if raw {
		fmt.Fprintf(&b, ",raw_%s_loss,raw_%s_acc", ev, ev)
	}
	b.WriteString("\n")
	for _, m := range rows {
		fmt.Fprintf(&b, "%d,%g,%.6f,%.4f,%.6f,%.4f,%.3f,%.1f,%.1f,%.1f",
			m.Epoch, m.LR, m.TrainLoss, m.TrainAcc, m.TestLoss, m.TestAcc, m.Seconds, m.ImgPerSec, m.RSSMB, m.GPUMB)
		if raw {
			fmt.Fprintf(&b, ",%.6f,%.4f", m.RawTestLoss, m.RawTestAcc)
		}
		b.WriteString("\n")
	}
	return atomicfile.Write(filepath.Join(dir, MetricsFile), []byte(b.String()))
}

// Prepare creates the folder for a new run, refusing to mix it with an
// earlier run unless overwrite is set (then the earlier run's files go).
// The temporary files of killed writes go either way: the caller holds
// the folder (Lock), so no live writer owns them.
func Prepare(dir string, overwrite bool) error {
	if !overwrite {
		if _, err := os.Stat(filepath.Join(dir, SummaryFile)); err == nil {
			return inputf("%s already holds a finished run (%s); pass -overwrite to replace it, -continue to report and keep it, or -out DIR for a new folder", dir, SummaryFile)
		}
		if _, err := os.Stat(filepath.Join(dir, CheckpointFile)); err == nil {
			return inputf("%s holds an unfinished run (%s); -resume %s (or -continue) continues it, -overwrite starts over", dir, CheckpointFile, dir)
		}
	} else {
		for _, f := range Files {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return &InputError{Err: fmt.Errorf("overwrite: %w", err)}
			}
		}
	}
	if err := RemoveTemps(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return &InputError{Err: fmt.Errorf("run folder: %w", err)}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &InputError{Err: fmt.Errorf("run folder: %w", err)}
	}
	return nil
}

// Pictures are the run folder's pictures, which WritePicture writes.
var Pictures = []string{CurvesFile, ConfusionFile, WrongFile}

// WritePicture writes one of the run's pictures (Pictures), encoded by
// encode (a PNG), atomically.
func WritePicture(dir, name string, encode func(io.Writer) error) error {
	if !slices.Contains(Pictures, name) {
		return fmt.Errorf("run folder: %s is not one of its pictures (%s)", name, strings.Join(Pictures, ", "))
	}
	return atomicfile.WriteFunc(filepath.Join(dir, name), encode)
}

// WriteModel writes model.pt: the net's state dict, in PyTorch's format.
func WriteModel(dir string, net nn.Module) error {
	return nn.Save(net, filepath.Join(dir, ModelFile))
}

// RemoveTemps removes what killed writes of the run's files left in dir.
func RemoveTemps(dir string) error {
	_, err := atomicfile.RemoveTemps(dir, Files...)
	return err
}

// Finished reports whether dir holds a finished run: a summary.json that
// reads as one. A damaged summary.json does not finish a run: -resume
// writes it again.
func Finished(dir string) bool {
	_, ok := FinishedEpochs(dir)
	return ok
}

// FinishedEpochs is the number of epochs of the finished run in dir, read
// from its summary.json; ok is false where there is none that reads. A
// summary of fewer epochs than the checkpoint holds is that of an earlier
// finish, before the run was extended.
func FinishedEpochs(dir string) (epochs int, ok bool) {
	r, err := ReadResult(dir)
	if err != nil {
		return 0, false
	}
	return len(r.Epochs), true
}

// MarkUnfinished removes summary.json, so that the folder no longer claims
// a finished run: a run extended with -epochs is unfinished until its new
// last epoch.
func MarkUnfinished(dir string) error {
	if err := atomicfile.Remove(filepath.Join(dir, SummaryFile)); err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	return nil
}

// ReadMetrics reads metrics.csv: one row per finished epoch, the
// evaluation's columns as test or validation (val_) figures alike. It
// reads the epoch, lr, train and evaluation loss and accuracy; the other
// columns are left zero.
func ReadMetrics(dir string) ([]EpochMetrics, error) {
	path := filepath.Join(dir, MetricsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return nil, fmt.Errorf("%s: empty", path)
	}
	col := map[string]int{}
	for i, name := range strings.Split(lines[0], ",") {
		col[strings.Replace(strings.Replace(name, "val_", "test_", 1), "raw_val_", "raw_test_", 1)] = i
	}
	for _, name := range []string{"epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("%s: no column %s", path, name)
		}
	}
	var rows []EpochMetrics
	for n, line := range lines[1:] {
		f := strings.Split(line, ",")
		num := func(name string) (float64, error) {
			i := col[name]
			if i >= len(f) {
				return 0, fmt.Errorf("%s line %d: no %s", path, n+2, name)
			}
			return strconv.ParseFloat(f[i], 64)
		}
		var m EpochMetrics
		var vals [6]float64
		for i, name := range []string{"epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc"} {
			if vals[i], err = num(name); err != nil {
				return nil, fmt.Errorf("%s line %d: %s: %v", path, n+2, name, err)
			}
		}
		m.Epoch, m.LR, m.TrainLoss, m.TrainAcc, m.TestLoss, m.TestAcc = int(vals[0]), vals[1], vals[2], vals[3], vals[4], vals[5]
		rows = append(rows, m)
	}
	return rows, nil
}
