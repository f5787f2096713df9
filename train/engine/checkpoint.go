package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
)

// The run folder's files.
const (
	ArchFile       = "arch.json"
	CheckpointFile = "checkpoint.pt"
	ModelFile      = "model.pt"
	MetricsFile    = "metrics.csv"
	SummaryFile    = "summary.json"
	CurvesFile     = "curves.png"
	ConfusionFile  = "confusion.png"
	WrongFile      = "misclassified.png"
)

// checkpointFormat names the layout of checkpoint.pt, so a future change is
// recognised instead of misread.
const checkpointFormat = "tinydigits-checkpoint/2"

// A checkpoint is one dict in PyTorch's torch.save format:
//
//	model.<name>              the model's state dict (parameters and buffers)
//	optim.momentum_buffer.<i> SGD's momentum buffer of parameter i
//	rng.cpu                   libtorch's CPU generator state (dropout masks)
//	rng.cuda                  the GPU's generator state, for a run on a GPU
//	meta                      JSON: checkpointMeta
//
// The data order and augmentation need no state of their own: they follow
// from the seed and the epoch number. A run resumed on another kind of
// device than it started on goes on, but its dropout masks are not those of
// an uninterrupted run.
type checkpointMeta struct {
	Format string `json:"format"`
	// Arch is the net and its recipe as run (overrides applied): a
	// checkpoint needs no registry entry to resume or evaluate.
	Arch        models.Arch    `json:"arch"`
	Params      int64          `json:"params"`
	Run         runSettings    `json:"run"`
	Epoch       int            `json:"epoch"` // epochs finished
	Metrics     []EpochMetrics `json:"metrics"`
	WallSeconds float64        `json:"wall_seconds"`
	Libtorch    string         `json:"libtorch"`
}

// runSettings are the settings outside the recipe that a resumed run
// keeps: those that decide the data and the arithmetic (Threads and Device
// change the rounding; -threads and -device may still override them), and
// the report's target and data folder (-target and -data may change).
type runSettings struct {
	Seed          uint64  `json:"seed"`
	TestBatchSize int     `json:"test_batch_size"`
	Subset        int     `json:"subset"`
	Holdout       int     `json:"holdout"`
	Target        float64 `json:"target"`
	DataDir       string  `json:"data_dir"`
	Threads       int     `json:"threads"`
	Device        string  `json:"device"`
}

func settingsOf(c Config, threads int, device string) runSettings {
	return runSettings{Seed: c.Seed, TestBatchSize: c.TestBatchSize, Subset: c.Subset, Holdout: c.Holdout,
		Target: c.Target, DataDir: c.DataDir, Threads: threads, Device: device}
}

// writeCheckpoint saves the state after a finished epoch, atomically.
func writeCheckpoint(path string, meta checkpointMeta, net *nn.Sequential, opt *optim.SGD, device torch.Device) error {
	var items []torch.Named
	for _, n := range net.StateDict() {
		items = append(items, torch.Named{Name: "model." + n.Name, Tensor: n.Tensor})
	}
	for i, b := range opt.MomentumBuffers() {
		if b != nil {
			items = append(items, torch.Named{Name: "optim.momentum_buffer." + strconv.Itoa(i), Tensor: b})
		}
	}
	rng, err := torch.CPURNGState()
	if err != nil {
		return err
	}
	defer rng.Close()
	items = append(items, torch.Named{Name: "rng.cpu", Tensor: rng})
	if device.IsCUDA() {
		gpu, err := torch.RNGState(device)
		if err != nil {
			return err
		}
		defer gpu.Close()
		items = append(items, torch.Named{Name: "rng.cuda", Tensor: gpu})
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	data, err := torch.SaveDict(items, []torch.Text{{Name: "meta", Value: string(js)}})
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return atomicfile.Write(path, data)
}

// checkpoint is a read and checked checkpoint.pt.
type checkpoint struct {
	path    string
	meta    checkpointMeta
	arch    models.Arch
	model   []torch.Named // without the "model." prefix
	buffers map[int]*torch.Tensor
	rng     *torch.Tensor
	rngCUDA *torch.Tensor // nil for a run on the CPU
	all     []torch.Named
}

func (c *checkpoint) close() {
	for _, n := range c.all {
		n.Tensor.Close()
	}
}

// readCheckpoint reads path and checks that it is a whole tinydigits
// checkpoint; every problem is an InputError naming it.
func readCheckpoint(path string) (*checkpoint, error) {
	bad := func(format string, args ...any) error {
		return inputErr("%s: %s", path, fmt.Sprintf(format, args...))
	}
	items, texts, err := torch.LoadDictFile(path)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	c := &checkpoint{path: path, all: items, buffers: map[int]*torch.Tensor{}}
	ok := false
	defer func() {
		if !ok {
			c.close()
		}
	}()
	metaJSON, found := "", false
	for _, t := range texts {
		if t.Name == "meta" {
			metaJSON, found = t.Value, true
		}
	}
	if !found {
		return nil, bad("missing field \"meta\" (not a tinydigits checkpoint; a model.pt holds weights only)")
	}
	var format struct {
		Format string `json:"format"`
	}
	if json.Unmarshal([]byte(metaJSON), &format) == nil && format.Format != checkpointFormat && strings.HasPrefix(format.Format, "tinydigits-checkpoint/") {
		return nil, bad("format %q, this build reads %q (-eval still reads its weights)", format.Format, checkpointFormat)
	}
	if err := decodeStrict([]byte(metaJSON), &c.meta); err != nil {
		return nil, bad("meta: %v", err)
	}
	if c.meta.Format != checkpointFormat {
		return nil, bad("format %q, this build reads %q", c.meta.Format, checkpointFormat)
	}
	if err := c.meta.Arch.Check(); err != nil {
		return nil, bad("meta: arch: %v", err)
	}
	c.arch = c.meta.Arch
	if p := c.arch.Params(); p != c.meta.Params {
		return nil, bad("meta: the arch has %d parameters, the meta says %d", p, c.meta.Params)
	}
	if c.meta.Epoch < 0 || c.meta.Epoch != len(c.meta.Metrics) {
		return nil, bad("meta says %d epochs finished but holds metrics of %d", c.meta.Epoch, len(c.meta.Metrics))
	}
	for _, n := range items {
		switch {
		case strings.HasPrefix(n.Name, "model."):
			c.model = append(c.model, torch.Named{Name: strings.TrimPrefix(n.Name, "model."), Tensor: n.Tensor})
		case strings.HasPrefix(n.Name, "optim.momentum_buffer."):
			i, err := strconv.Atoi(strings.TrimPrefix(n.Name, "optim.momentum_buffer."))
			if err != nil || i < 0 {
				return nil, bad("bad entry %q", n.Name)
			}
			c.buffers[i] = n.Tensor
		case n.Name == "rng.cpu":
			c.rng = n.Tensor
		case n.Name == "rng.cuda":
			c.rngCUDA = n.Tensor
		default:
			return nil, bad("unexpected entry %q", n.Name)
		}
	}
	if len(c.model) == 0 {
		return nil, bad("missing field \"model.*\" (no model weights)")
	}
	if c.rng == nil {
		return nil, bad("missing field \"rng.cpu\"")
	}
	ok = true
	return c, nil
}

// restore loads the checkpoint's state into a freshly built network and
// optimizer of its arch; it checks everything before changing anything.
func (c *checkpoint) restore(net *nn.Sequential, opt *optim.SGD, device torch.Device) error {
	// The weights first: a checkpoint of another arch fails here, by name.
	if err := nn.LoadStateDict(net, c.model); err != nil {
		return inputErr("%s does not fit %s: %v", c.path, c.arch.Name, err)
	}
	params := nn.Parameters(net)
	for i, b := range c.buffers {
		if i >= len(params) {
			return inputErr("%s: momentum buffer %d, but %s has %d parameters", c.path, i, c.arch.Name, len(params))
		}
		if !slices.Equal(b.Shape(), params[i].Shape()) {
			return inputErr("%s: momentum buffer %d has shape %v, parameter %d has %v", c.path, i, b.Shape(), i, params[i].Shape())
		}
	}
	// Before the first step (the checkpoint of epoch 0) SGD has no momentum
	// buffers yet; after it, every parameter has one.
	if c.meta.Arch.Recipe.Momentum != 0 && len(c.buffers) != len(params) && (c.meta.Epoch > 0 || len(c.buffers) > 0) {
		return inputErr("%s: %d momentum buffers for %d parameters", c.path, len(c.buffers), len(params))
	}
	for i, b := range c.buffers {
		moved, err := b.To(params[i].Device())
		if err == nil {
			err = opt.SetMomentumBuffer(i, moved)
		}
		if err != nil {
			return err
		}
	}
	if err := torch.SetCPURNGState(c.rng); err != nil {
		return inputErr("%s: rng.cpu: %v", c.path, err)
	}
	if c.rngCUDA != nil && device.IsCUDA() {
		if err := torch.SetRNGState(device, c.rngCUDA); err != nil {
			return inputErr("%s: rng.cuda: %v", c.path, err)
		}
	}
	return nil
}

// checkpointPath accepts a run folder or the checkpoint file itself.
func checkpointPath(p string) (dir, file string, err error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", "", &InputError{Err: fmt.Errorf("resume: %w", err)}
	}
	if st.IsDir() {
		file = filepath.Join(p, CheckpointFile)
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			return "", "", inputErr("resume: %s has no %s: no finished epoch to resume from", p, CheckpointFile)
		}
		return p, file, nil
	}
	return filepath.Dir(p), p, nil
}

// decodeStrict unmarshals the JSON object data into v, a pointer to a
// struct. Every field of the struct, and of the structs it holds, must be
// present and not null, with the right type; unknown fields are refused.
// The error names the field.
func decodeStrict(data []byte, v any) error {
	if err := requireFields(data, reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("field %q holds a JSON %s where a %s belongs", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	return err
}

func requireFields(data []byte, t reflect.Type, prefix string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		if prefix == "" {
			return fmt.Errorf("not a JSON object")
		}
		return fmt.Errorf("field %q is not a JSON object", strings.TrimSuffix(prefix, "."))
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			return fmt.Errorf("missing field %q", prefix+name)
		}
		if f.Type.Kind() == reflect.Struct {
			if err := requireFields(raw, f.Type, prefix+name+"."); err != nil {
				return err
			}
		}
	}
	return nil
}
