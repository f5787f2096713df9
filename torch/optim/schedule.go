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
