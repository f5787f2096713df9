package runfolder

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

// The checkpoint's keys: prefixes of the tensors' names, and the names of
// the RNG states and of the meta string.
const (
	keyModel    = "model."
	keyAverage  = "average."
	keyMomentum = "optim.momentum_buffer."
	keyRNG      = "rng.cpu"
	keyRNGCUDA  = "rng.cuda"
	keyMeta     = "meta"
)

// Format names the layout of checkpoint.pt, so a future change is
// recognised instead of misread.
const Format = "tinydigits-checkpoint/2"

// legacyFormat is the format of earlier versions, whose meta names a
// registered arch: read for its weights only.
const legacyFormat = "tinydigits-checkpoint/1"

// A checkpoint is one dict in PyTorch's torch.save format:
//
//	model.<name>              the model's state dict (parameters and buffers)
//	average.<name>            the averaged weights' state dict, for a run
//	                          that averages them (-ema, -swa-start)
//	optim.momentum_buffer.<i> SGD's momentum buffer of parameter i
//	rng.cpu                   libtorch's CPU generator state (dropout masks)
//	rng.cuda                  the GPU's generator state, for a run on a GPU
//	meta                      JSON: Meta
//
// The data order and augmentation need no state of their own: they follow
// from the seed and the epoch number. A run resumed on another kind of
// device than it started on goes on, but its dropout masks are not those of
// an uninterrupted run.
type Meta struct {
	Format string `json:"format"`
	// Arch is the net and its recipe as run (overrides applied): a
	// checkpoint needs no registry entry to resume or evaluate.
	Arch        models.Arch    `json:"arch"`
	Params      int64          `json:"params"`
	Run         Settings       `json:"run"`
	Epoch       int            `json:"epoch"` // epochs finished
	Metrics     []EpochMetrics `json:"metrics"`
	WallSeconds float64        `json:"wall_seconds"`
	Libtorch    string         `json:"libtorch"`
	// Averaged counts the updates of the averaged weights so far; it is
	// there exactly when the recipe averages the weights.
	Averaged *int64 `json:"averaged,omitempty"`
	// ResumedAt lists the epochs after which the run was resumed so far,
	// every resume in order.
	ResumedAt []int `json:"resumed_after_epochs,omitempty"`
}

// Settings are the settings outside the recipe that a resumed run
// keeps: those that decide the data and the arithmetic (Threads and Device
// change the rounding; -threads and -device may still override them), and
// the report's target and data folder (-target and -data may change).
type Settings struct {
	Seed          uint64  `json:"seed"`
	TestBatchSize int     `json:"test_batch_size"`
	Subset        int     `json:"subset"`
	Holdout       int     `json:"holdout"`
	Target        float64 `json:"target"`
	DataDir       string  `json:"data_dir"`
	Threads       int     `json:"threads"`
	Device        string  `json:"device"`
}

// WriteCheckpoint saves the state after a finished epoch, atomically.
// avg, when not nil, holds the averaged weights (meta.Averaged updates).
func WriteCheckpoint(path string, meta Meta, net, avg *nn.Sequential, opt *optim.SGD, device torch.Device) error {
	var items []torch.Named
	for _, n := range net.StateDict() {
		items = append(items, torch.Named{Name: keyModel + n.Name, Tensor: n.Tensor})
	}
	if avg != nil {
		for _, n := range avg.StateDict() {
			items = append(items, torch.Named{Name: keyAverage + n.Name, Tensor: n.Tensor})
		}
	}
	for i, b := range opt.MomentumBuffers() {
		if b != nil {
			items = append(items, torch.Named{Name: keyMomentum + strconv.Itoa(i), Tensor: b})
		}
	}
	rng, err := torch.CPURNGState()
	if err != nil {
		return err
	}
	defer rng.Close()
	items = append(items, torch.Named{Name: keyRNG, Tensor: rng})
	if device.IsCUDA() {
		gpu, err := torch.RNGState(device)
		if err != nil {
			return err
		}
		defer gpu.Close()
		items = append(items, torch.Named{Name: keyRNGCUDA, Tensor: gpu})
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	data, err := torch.SaveDict(items, []torch.Text{{Name: keyMeta, Value: string(js)}})
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return atomicfile.Write(path, data)
}

// Checkpoint is a read and checked checkpoint.pt. Close frees its tensors.
type Checkpoint struct {
	Path string
	Meta Meta
	// Arch is the net with the recipe it was trained with.
	Arch models.Arch
	// Legacy marks a checkpoint of an earlier version: its Meta is empty,
	// and it cannot be resumed.
	Legacy  bool
	model   []torch.Named // without the "model." prefix
	average []torch.Named // without the "average." prefix
	buffers map[int]*torch.Tensor
	rng     *torch.Tensor
	rngCUDA *torch.Tensor // nil for a run on the CPU
	all     []torch.Named
}

func (c *Checkpoint) Close() {
	for _, n := range c.all {
		n.Tensor.Close()
	}
}

// ReadCheckpoint reads path and checks that it is a whole tinydigits
// checkpoint; every problem is an InputError naming it.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	items, texts, err := torch.LoadDictFile(path)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	return checkpointOf(path, items, texts)
}

// checkpointOf checks a loaded dict as a checkpoint; it owns items (closed
// on error, by Close otherwise).
func checkpointOf(path string, items []torch.Named, texts []torch.Text) (*Checkpoint, error) {
	c := &Checkpoint{Path: path, all: items, buffers: map[int]*torch.Tensor{}}
	bad := func(format string, args ...any) error {
		c.Close()
		return inputf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	metaJSON, found := "", false
	for _, t := range texts {
		if t.Name == keyMeta {
			metaJSON, found = t.Value, true
		}
	}
	if !found {
		return nil, bad("missing field %q (not a tinydigits checkpoint; a model.pt holds weights only)", keyMeta)
	}
	var format struct {
		Format string `json:"format"`
	}
	json.Unmarshal([]byte(metaJSON), &format)
	switch {
	case format.Format == legacyFormat:
		if err := c.readLegacy(metaJSON); err != nil {
			return nil, bad("%v", err)
		}
		return c, nil
	case format.Format != Format && strings.HasPrefix(format.Format, "tinydigits-checkpoint/"):
		return nil, bad("format %q, this build reads %q", format.Format, Format)
	}
	if err := c.readMeta(metaJSON); err != nil {
		return nil, bad("%v", err)
	}
	if err := c.sortEntries(items); err != nil {
		return nil, bad("%v", err)
	}
	if err := c.checkEntries(); err != nil {
		return nil, bad("%v", err)
	}
	return c, nil
}

// readLegacy reads an earlier version's checkpoint: its weights and its
// registered arch, enough for -eval and predict, not to resume.
func (c *Checkpoint) readLegacy(metaJSON string) error {
	var old struct {
		Arch string `json:"arch"`
	}
	json.Unmarshal([]byte(metaJSON), &old)
	var err error
	if c.Arch, err = models.Lookup(old.Arch); err != nil {
		return err
	}
	c.Legacy = true
	for _, n := range c.all {
		if name, ok := strings.CutPrefix(n.Name, keyModel); ok {
			c.model = append(c.model, torch.Named{Name: name, Tensor: n.Tensor})
		}
	}
	return nil
}

// readMeta decodes the meta (every field present) and checks it against
// itself: its arch, parameter count and epochs.
func (c *Checkpoint) readMeta(metaJSON string) error {
	if err := decodeStrict([]byte(metaJSON), &c.Meta); err != nil {
		return fmt.Errorf("meta: %v", err)
	}
	if c.Meta.Format != Format {
		return fmt.Errorf("format %q, this build reads %q", c.Meta.Format, Format)
	}
	if err := c.Meta.Arch.Check(); err != nil {
		return fmt.Errorf("meta: arch: %v", err)
	}
	c.Arch = c.Meta.Arch
	if p := c.Arch.Params(); p != c.Meta.Params {
		return fmt.Errorf("meta: the arch has %d parameters, the meta says %d", p, c.Meta.Params)
	}
	if c.Meta.Epoch < 0 || c.Meta.Epoch != len(c.Meta.Metrics) {
		return fmt.Errorf("meta says %d epochs finished but holds metrics of %d", c.Meta.Epoch, len(c.Meta.Metrics))
	}
	return nil
}

// sortEntries files each tensor by its key.
func (c *Checkpoint) sortEntries(items []torch.Named) error {
	for _, n := range items {
		switch {
		case strings.HasPrefix(n.Name, keyModel):
			c.model = append(c.model, torch.Named{Name: strings.TrimPrefix(n.Name, keyModel), Tensor: n.Tensor})
		case strings.HasPrefix(n.Name, keyAverage):
			c.average = append(c.average, torch.Named{Name: strings.TrimPrefix(n.Name, keyAverage), Tensor: n.Tensor})
		case strings.HasPrefix(n.Name, keyMomentum):
			i, err := strconv.Atoi(strings.TrimPrefix(n.Name, keyMomentum))
			if err != nil || i < 0 {
				return fmt.Errorf("bad entry %q", n.Name)
			}
			c.buffers[i] = n.Tensor
		case n.Name == keyRNG:
			c.rng = n.Tensor
		case n.Name == keyRNGCUDA:
			c.rngCUDA = n.Tensor
		default:
			return fmt.Errorf("unexpected entry %q", n.Name)
		}
	}
	return nil
}

// checkEntries checks that the checkpoint holds what its recipe needs.
func (c *Checkpoint) checkEntries() error {
	if len(c.model) == 0 {
		return fmt.Errorf("missing field %q (no model weights)", keyModel+"*")
	}
	if c.rng == nil {
		return fmt.Errorf("missing field %q", keyRNG)
	}
	switch averages := c.Arch.Recipe.Averaging() != ""; {
	case averages && c.Meta.Averaged == nil:
		return fmt.Errorf("meta: missing field \"averaged\" (the recipe averages the weights)")
	case averages && *c.Meta.Averaged < 0:
		return fmt.Errorf("meta: field \"averaged\" is %d, not a count of updates", *c.Meta.Averaged)
	case averages && len(c.average) == 0:
		return fmt.Errorf("missing field %q (the recipe averages the weights)", keyAverage+"*")
	case !averages && (len(c.average) > 0 || c.Meta.Averaged != nil):
		return fmt.Errorf("averaged weights (average.*, meta field \"averaged\"), but the recipe (arch.recipe) does not average them")
	}
	return nil
}

// restore loads the checkpoint's state into a freshly built network and
// optimizer of its arch; it checks everything before changing anything.
func (c *Checkpoint) Restore(net *nn.Sequential, opt *optim.SGD, device torch.Device) error {
	// The weights first: a checkpoint of another arch fails here, by name.
	if err := nn.LoadStateDict(net, c.model); err != nil {
		return inputf("%s does not fit %s: %v", c.Path, c.Arch.Name, err)
	}
	params := nn.Parameters(net)
	for i, b := range c.buffers {
		if i >= len(params) {
			return inputf("%s: momentum buffer %d, but %s has %d parameters", c.Path, i, c.Arch.Name, len(params))
		}
		if !slices.Equal(b.Shape(), params[i].Shape()) {
			return inputf("%s: momentum buffer %d has shape %v, parameter %d has %v", c.Path, i, b.Shape(), i, params[i].Shape())
		}
	}
	// Before the first step (the checkpoint of epoch 0) SGD has no momentum
	// buffers yet; after it, every parameter has one.
	if c.Meta.Arch.Recipe.Momentum != 0 && len(c.buffers) != len(params) && (c.Meta.Epoch > 0 || len(c.buffers) > 0) {
		return inputf("%s: %d momentum buffers for %d parameters", c.Path, len(c.buffers), len(params))
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
		return inputf("%s: rng.cpu: %v", c.Path, err)
	}
	if c.rngCUDA != nil && device.IsCUDA() {
		if err := torch.SetRNGState(device, c.rngCUDA); err != nil {
			return inputf("%s: rng.cuda: %v", c.Path, err)
		}
	}
	return nil
}

// CheckpointPath accepts a run folder or the checkpoint file itself.
func CheckpointPath(p string) (dir, file string, err error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", "", &InputError{Err: fmt.Errorf("resume: %w", err)}
	}
	if st.IsDir() {
		file = filepath.Join(p, CheckpointFile)
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			return "", "", inputf("resume: %s has no %s: no finished epoch to resume from", p, CheckpointFile)
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
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		raw, ok := fields[name]
		// omitempty marks a field added later, whose absence means off (0).
		if !ok && strings.Contains(opts, "omitempty") {
			continue
		}
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

// Weights is the state dict of the model the run reports (names without
// the "model." prefix): the averaged weights once the run averages them,
// else the trained ones. The checkpoint owns the tensors.
func (c *Checkpoint) Weights() []torch.Named {
	if c.Meta.Averaged != nil && *c.Meta.Averaged > 0 {
		return c.average
	}
	return c.model
}

// RestoreAverage loads the averaged weights and their update count into
// net, a network of the checkpoint's arch, and avg, which averages into it.
func (c *Checkpoint) RestoreAverage(net *nn.Sequential, avg *optim.Average) error {
	if err := nn.LoadStateDict(net, c.average); err != nil {
		return inputf("%s: the averaged weights do not fit %s: %v", c.Path, c.Arch.Name, err)
	}
	return avg.SetCount(*c.Meta.Averaged)
}
