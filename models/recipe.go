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

// ScheduleName resolves a recipe's Schedule: "" means "step" when stepSize
// is positive, else "constant".
func ScheduleName(schedule string, stepSize int) string {
	if schedule != "" {
		return schedule
	}
	if stepSize > 0 {
		return "step"
	}
	return "constant"
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
	case r.Schedule != "" && r.Schedule != "constant" && r.Schedule != "step" && r.Schedule != "onecycle":
		return fmt.Errorf("-schedule must be constant, step or onecycle, got %q", r.Schedule)
	case r.ScheduleName() == "step" && r.StepSize < 1:
		return fmt.Errorf("-schedule step needs -step-size ≥ 1, got %d", r.StepSize)
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

// Ptr returns a pointer to field f of r (*int, *float64 or *string), for a
// flag to write into.
func (r *Recipe) Ptr(f RecipeField) any {
	return reflect.ValueOf(r).Elem().Field(f.Index).Addr().Interface()
}
