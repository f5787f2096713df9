package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate for an epoch (0-based) from the base rate.
type Schedule interface {
	LR(base float64, epoch int) float64
}

// Constant keeps the base learning rate.
type Constant struct{}

// LR returns base.
func (Constant) LR(base float64, _ int) float64 { return base }

// StepLR multiplies the learning rate by Gamma every StepSize epochs, as
// torch.optim.lr_scheduler.StepLR stepped once per epoch does:
// lr = base · Gamma^⌊epoch / StepSize⌋.
type StepLR struct {
	StepSize int
	Gamma    float64
}

// NewStepLR checks its arguments.
func NewStepLR(stepSize int, gamma float64) (StepLR, error) {
	if stepSize < 1 {
		return StepLR{}, fmt.Errorf("steplr: step size must be at least 1, got %d", stepSize)
	}
	if gamma <= 0 {
		return StepLR{}, fmt.Errorf("steplr: gamma must be positive, got %g", gamma)
	}
	return StepLR{StepSize: stepSize, Gamma: gamma}, nil
}

// LR is the learning rate for epoch (0-based).
func (s StepLR) LR(base float64, epoch int) float64 {
	return base * math.Pow(s.Gamma, float64(epoch/s.StepSize))
}

// OneCycle is torch.optim.lr_scheduler.OneCycleLR (two phases, cosine
// annealing, no momentum cycling), stepped after every batch: the learning
// rate rises from max/DivFactor to max over the first PctStart of the steps,
// then falls to max/(DivFactor·FinalDivFactor) at the last step. The base
// learning rate is the maximum.
type OneCycle struct {
	PctStart       float64 // fraction of the steps spent rising (PyTorch: 0.3)
	DivFactor      float64 // initial lr = max / DivFactor (PyTorch: 25)
	FinalDivFactor float64 // final lr = initial / FinalDivFactor (PyTorch: 1e4)
}

// DefaultOneCycle has PyTorch's defaults.
var DefaultOneCycle = OneCycle{PctStart: 0.3, DivFactor: 25, FinalDivFactor: 1e4}

// Validate checks the fields.
func (o OneCycle) Validate() error {
	switch {
	case o.PctStart <= 0 || o.PctStart >= 1:
		return fmt.Errorf("onecycle: pct start must be in (0, 1), got %g", o.PctStart)
	case o.DivFactor <= 0:
		return fmt.Errorf("onecycle: div factor must be positive, got %g", o.DivFactor)
	case o.FinalDivFactor <= 0:
		return fmt.Errorf("onecycle: final div factor must be positive, got %g", o.FinalDivFactor)
	}
	return nil
}

// CheckSteps refuses a schedule of total steps that OneCycleLR cannot
// give: one whose rising phase ends at its first step (PctStart × total =
// 1), where PyTorch divides by zero (ZeroDivisionError) and the rate would
// be NaN.
func (o OneCycle) CheckSteps(total int) error {
	switch {
	case total < 1:
		return fmt.Errorf("onecycle: %d steps; it needs at least one", total)
	case o.PctStart*float64(total)-1 == 0:
		return fmt.Errorf("onecycle: pct start %g of %d steps ends the rise at the first step, where OneCycleLR divides by zero (PyTorch raises ZeroDivisionError); train more steps or choose another pct start", o.PctStart, total)
	}
	return nil
}

// StepLR is the learning rate for step (0-based) of total steps, as
// OneCycleLR gives it after step calls to scheduler.step().
func (o OneCycle) StepLR(max float64, step, total int) float64 {
	initial := max / o.DivFactor
	final := initial / o.FinalDivFactor
	cos := func(start, end, pct float64) float64 {
		return end + (start-end)/2*(math.Cos(math.Pi*pct)+1)
	}
	rise := o.PctStart*float64(total) - 1
	if float64(step) <= rise {
		return cos(initial, max, float64(step)/rise)
	}
	return cos(max, final, (float64(step)-rise)/(float64(total-1)-rise))
}
