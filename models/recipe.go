package models

import (
	"fmt"
	"math"
	"reflect"
)

// Recipe is how an architecture is trained: SGD with momentum on the NLL
// loss of its log-softmax output. It is the one place a recipe field is
// written: the train command makes a flag of every field from its tags
// (flag: the name, help: the text), the banner, -h, arch files,
// checkpoints and the resume checks read the fields through this struct.
// In an arch file a field left out is 0 (off), except pct_start (0.3).
type Recipe struct {
	Epochs    int     `json:"epochs" flag:"epochs" help:"epochs to train"`
	BatchSize int     `json:"batch_size" flag:"batch-size" help:"training batch size"`
	LR        float64 `json:"lr" flag:"lr" help:"SGD learning rate (the peak for onecycle)"`
	Momentum  float64 `json:"momentum" flag:"momentum" help:"SGD momentum"`
	// Nesterov uses Nesterov momentum (torch.optim.SGD's nesterov=True).
	Nesterov bool `json:"nesterov,omitempty" flag:"nesterov" help:"Nesterov momentum (needs a momentum)"`
	// Schedule is "step" (StepLR: the lr is multiplied by Gamma every
	// StepSize epochs), "onecycle" (OneCycleLR stepped every batch, LR the
	// peak, PctStart the rising fraction) or "constant"; "" means step when
	// StepSize > 0, else constant.
	Schedule string  `json:"schedule" flag:"schedule" help:"lr schedule: step (StepLR, every epoch), onecycle (OneCycleLR, every batch) or constant"`
	StepSize int     `json:"step_size" flag:"step-size" help:"StepLR period in epochs, 0 = constant lr"`
	Gamma    float64 `json:"gamma" flag:"gamma" help:"StepLR factor"`
	PctStart float64 `json:"pct_start" flag:"pct-start" help:"onecycle: fraction of the steps over which the lr rises to its peak"`
	// WeightDecay is SGD's L2 penalty (0: none).
	WeightDecay float64 `json:"weight_decay" flag:"weight-decay" help:"SGD weight decay (L2 penalty)"`
	// LabelSmoothing spreads that much of each training target evenly over
	// the classes (0: none); evaluation losses stay plain NLL.
	LabelSmoothing float64 `json:"label_smoothing" flag:"label-smoothing" help:"share of each training target spread evenly over the classes (as PyTorch's label_smoothing)"`
	// Rotate is the range of random rotation in degrees (±Rotate); 0 is off.
	Rotate float64 `json:"rotate" flag:"rotate" help:"random rotation in ± degrees, 0 = off"`
	// Translate shifts each image by up to this fraction of its width and
	// height, a whole number of pixels drawn as torchvision's
	// RandomAffine(degrees, translate=(f, f)) draws them; with Rotate, both
	// are one affine resampling. 0 is off.
	Translate float64 `json:"translate,omitempty" flag:"translate" help:"random translation by up to this fraction of the image size, with the rotation in one resampling (RandomAffine's translate), 0 = off"`
	// EMA evaluates and saves an exponential moving average of the weights
	// (parameters and BatchNorm statistics), updated after every step with
	// this decay; 0 is off.
	EMA float64 `json:"ema,omitempty" flag:"ema" help:"evaluate and save an exponential moving average of the weights with this decay per step (e.g. 0.999), 0 = off"`
	// SWAStart evaluates and saves the equal average of the weights at the
	// end of every epoch from this one (1-based) on (stochastic weight
	// averaging); 0 is off.
	SWAStart int `json:"swa_start,omitempty" flag:"swa-start" help:"evaluate and save the equal average of the weights at the end of each epoch from this one on (SWA), 0 = off"`
	// RecomputeBN gives the averaged weights BatchNorm statistics recomputed
	// over a pass of the epoch's training batches before each evaluation
	// (PyTorch's update_bn), instead of the average of the trained
	// weights' statistics.
	RecomputeBN bool `json:"recompute_bn,omitempty" flag:"recompute-bn" help:"-ema/-swa-start: recompute the averaged weights' BatchNorm statistics over the epoch's training batches before each evaluation (update_bn) instead of averaging them"`
}

// DefaultPctStart is OneCycle's rising fraction when a recipe gives none
// (PyTorch's OneCycleLR default).
const DefaultPctStart = 0.3

// MaxLR and MaxEpochs bound the recipe where its meaning does not: far
// past divergence (and lr·gradient stays within float32, the parameters'
// type), and far past any run here.
const (
	MaxLR     = 1000.0
	MaxEpochs = 100_000
)

// WithDefaults fills the fields whose zero is not "off".
func (r Recipe) WithDefaults() Recipe {
	if r.PctStart == 0 {
		r.PctStart = DefaultPctStart
	}
	return r
}

// The schedules' names, as -schedule and a recipe's "schedule" give them.
const (
	ScheduleStep     = "step"     // StepLR, once an epoch
	ScheduleOneCycle = "onecycle" // OneCycleLR, every batch
	ScheduleConstant = "constant"
)

// ScheduleName resolves a recipe's Schedule: "" means "step" when stepSize
// is positive, else "constant".
func ScheduleName(schedule string, stepSize int) string {
	if schedule != "" {
		return schedule
	}
	if stepSize > 0 {
		return ScheduleStep
	}
	return ScheduleConstant
}

// ScheduleName is the recipe's resolved schedule.
func (r Recipe) ScheduleName() string { return ScheduleName(r.Schedule, r.StepSize) }

// Check refuses values no run can use, NaN and infinities included; the
// error names the field by its flag.
func (r Recipe) Check() error {
	for _, f := range []struct {
		flag   string
		v      float64
		ok     bool
		wanted string
	}{
		{"lr", r.LR, r.LR > 0 && r.LR <= MaxLR, fmt.Sprintf("in (0, %g]", MaxLR)},
		{"momentum", r.Momentum, r.Momentum >= 0 && r.Momentum < 1, "in [0, 1)"},
		{"gamma", r.Gamma, r.Gamma > 0 && r.Gamma <= 1 || r.StepSize == 0 && r.Gamma == 0, "in (0, 1] (StepLR's decay factor)"},
		{"pct-start", r.PctStart, r.PctStart > 0 && r.PctStart < 1, "in (0, 1)"},
		{"weight-decay", r.WeightDecay, r.WeightDecay >= 0 && r.WeightDecay < 1, "in [0, 1)"},
		{"label-smoothing", r.LabelSmoothing, r.LabelSmoothing >= 0 && r.LabelSmoothing < 1, "in [0, 1)"},
		{"rotate", r.Rotate, r.Rotate >= 0 && r.Rotate <= 180, "in [0, 180] degrees"},
		{"translate", r.Translate, r.Translate >= 0 && r.Translate < 1, "a fraction of the image size in [0, 1)"},
		{"ema", r.EMA, r.EMA >= 0 && r.EMA < 1, "a decay in [0, 1)"},
	} {
		// NaN fails every comparison above, so only infinities need naming.
		if !f.ok || math.IsInf(f.v, 0) {
			return fmt.Errorf("-%s must be %s, got %g", f.flag, f.wanted, f.v)
		}
	}
	switch {
	case r.Epochs < 1 || r.Epochs > MaxEpochs:
		return fmt.Errorf("-epochs must be in [1, %d], got %d", MaxEpochs, r.Epochs)
	case r.BatchSize < 1:
		return fmt.Errorf("-batch-size must be at least 1, got %d", r.BatchSize)
	case r.StepSize < 0:
		return fmt.Errorf("-step-size must not be negative, got %d", r.StepSize)
	case r.Schedule != "" && r.Schedule != ScheduleConstant && r.Schedule != ScheduleStep && r.Schedule != ScheduleOneCycle:
		return fmt.Errorf("-schedule must be constant, step or onecycle, got %q", r.Schedule)
	case r.ScheduleName() == ScheduleStep && r.StepSize < 1:
		return fmt.Errorf("-schedule step needs -step-size ≥ 1, got %d", r.StepSize)
	case r.Nesterov && r.Momentum == 0:
		return fmt.Errorf("-nesterov needs a -momentum above 0")
	case r.SWAStart < 0 || r.SWAStart > r.Epochs:
		return fmt.Errorf("-swa-start must be an epoch in [1, %d] (the run's epochs), or 0 for off, got %d", r.Epochs, r.SWAStart)
	case r.SWAStart > 0 && r.EMA > 0:
		return fmt.Errorf("-ema and -swa-start are two ways to average the weights: use one")
	case r.RecomputeBN && r.EMA == 0 && r.SWAStart == 0:
		return fmt.Errorf("-recompute-bn applies to averaged weights: add -ema or -swa-start")
	}
	return nil
}

// RecipeField is one field of Recipe as a flag sees it.
type RecipeField struct {
	Flag, Help, JSON string
	Index            int // in Recipe, for reflect
}

// RecipeFields lists Recipe's fields in order, from their tags.
func RecipeFields() []RecipeField {
	t := reflect.TypeOf(Recipe{})
	fields := make([]RecipeField, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		fields = append(fields, RecipeField{Flag: f.Tag.Get("flag"), Help: f.Tag.Get("help"), JSON: f.Tag.Get("json"), Index: i})
	}
	return fields
}

// Get returns the value of field f of r.
func (r *Recipe) Get(f RecipeField) any { return reflect.ValueOf(r).Elem().Field(f.Index).Interface() }

// Averaging names how the recipe averages the weights: "ema", "swa" or ""
// (none).
func (r Recipe) Averaging() string {
	switch {
	case r.EMA > 0:
		return "ema"
	case r.SWAStart > 0:
		return "swa"
	}
	return ""
}

// Ptr returns a pointer to field f of r (*int, *float64, *string or *bool), for a
// flag to write into.
func (r *Recipe) Ptr(f RecipeField) any {
	return reflect.ValueOf(r).Elem().Field(f.Index).Addr().Interface()
}
