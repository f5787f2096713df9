// Package models holds the architectures of the three-step MNIST study and
// their training recipes, a registry to find them by name, and a
// torchsummary-style summary table.
//
// All three follow the seed's style: 3×3 convolutions, ReLU, two max-pool
// transition blocks, global average pooling and a log-softmax output, with
// no fully connected layer. They share one layout (ARCHS.md's L2): padding 1
// on the first four convolutions, pools after the second and the fourth.
//
//	layer            output    receptive field
//	input            1×28×28    1
//	conv1 3×3 pad 1  C×28×28    3
//	conv2 3×3 pad 1  C×28×28    5
//	maxpool 2        C×14×14    6
//	conv3 3×3 pad 1  C×14×14   10
//	conv4 3×3 pad 1  C×14×14   14
//	maxpool 2        C×7×7     16
//	conv5 3×3        C×5×5     24
//	conv6 3×3        10×3×3    32
//	GAP, log-softmax 10
//
// step1 has C = 32 with biases and nothing else; step2 has C = 14, no biases,
// BatchNorm and Dropout after conv1–conv5. step3 is step2 with a different
// head: conv5 narrows to 10 channels, conv6 widens to 16 (with BatchNorm and
// ReLU), then GAP and a 1×1 convolution to the 10 classes.
package models

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tinydigits/tinydigits/torch/nn"
)

// Recipe is how an architecture is trained by default: SGD with momentum on
// the NLL loss of its log-softmax output.
type Recipe struct {
	Epochs    int
	BatchSize int
	LR        float64
	Momentum  float64
	// Schedule is "step" (StepLR: the lr is multiplied by Gamma every
	// StepSize epochs), "onecycle" (OneCycleLR stepped every batch, LR the
	// peak, PctStart the rising fraction) or "constant"; "" means step when
	// StepSize > 0, else constant.
	Schedule string
	StepSize int
	Gamma    float64
	PctStart float64
	// WeightDecay is SGD's L2 penalty (0: none).
	WeightDecay float64
	// LabelSmoothing spreads that much of each training target evenly over
	// the classes (0: none); evaluation losses stay plain NLL.
	LabelSmoothing float64
	// Rotate is the range of random rotation in degrees (±Rotate); 0 is off.
	Rotate float64
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

// Arch is a registered architecture.
type Arch struct {
	Name        string
	Description string
	// Params is the number of learnable parameters (a test checks that the
	// built network has exactly this many).
	Params int64
	Recipe Recipe
	layers func() []nn.Spec
}

// Layers lists the architecture's layer specs.
func (a Arch) Layers() []nn.Spec { return a.layers() }

// Build makes a fresh network with libtorch's default initialisation (seed
// libtorch first for a reproducible one).
func (a Arch) Build() (*nn.Sequential, error) {
	net, err := nn.NewSequential(a.layers()...)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", a.Name, err)
	}
	return net, nil
}

var registry = map[string]Arch{}

// Register adds an architecture; names must be unique.
func Register(a Arch) {
	if _, dup := registry[a.Name]; dup {
		panic("models: " + a.Name + " registered twice")
	}
	registry[a.Name] = a
}

// Names lists the registered architectures in order.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup finds an architecture by name; the error lists the known ones.
func Lookup(name string) (Arch, error) {
	a, ok := registry[name]
	if !ok {
		return Arch{}, fmt.Errorf("unknown arch %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return a, nil
}

// New builds the named architecture.
func New(name string) (*nn.Sequential, error) {
	a, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return a.Build()
}

// block is conv → [BatchNorm] → ReLU → [Dropout], the seed's unit.
type block struct {
	in, out, padding int
	bias             bool
	bn               bool
	bnAffine         bool
	dropout          float64
}

func (b block) specs() []nn.Spec {
	s := []nn.Spec{nn.Conv2d{In: b.in, Out: b.out, Kernel: 3, Padding: b.padding, NoBias: !b.bias}}
	if b.bn {
		s = append(s, nn.BatchNorm2d{Features: b.out, NoAffine: !b.bnAffine})
	}
	s = append(s, nn.ReLU{Inplace: true})
	if b.dropout > 0 {
		s = append(s, nn.Dropout{P: b.dropout})
	}
	return s
}

// trunk is ARCHS.md's layout L2 up to the second pool: four blocks of
// width c with padding 1 and max-pools after the second and the fourth
// (28×28 → 14×14 → 7×7).
func trunk(c int, unit block) []nn.Spec {
	blk := func(in int) []nn.Spec {
		b := unit
		b.in, b.out, b.padding = in, c, 1
		return b.specs()
	}
	var s []nn.Spec
	s = append(s, blk(1)...)
	s = append(s, blk(c)...)
	s = append(s, nn.MaxPool2d{Kernel: 2})
	s = append(s, blk(c)...)
	s = append(s, blk(c)...)
	s = append(s, nn.MaxPool2d{Kernel: 2})
	return s
}

// gapHead is conv6 (3×3, no padding, 7→... ×3×3) to 10 channels, global
// average pooling and log-softmax.
func gapHead(in int, bias bool) []nn.Spec {
	return []nn.Spec{
		nn.Conv2d{In: in, Out: 10, Kernel: 3, NoBias: !bias},
		nn.AdaptiveAvgPool2d{Size: 1},
		nn.Flatten{},
		nn.LogSoftmax{Dim: 1},
	}
}

// layout is the whole of L2 at width c: the trunk, conv5 (3×3, no padding,
// 7×7 → 5×5) as one more block, then the head.
func layout(c int, unit block) []nn.Spec {
	conv5 := unit
	conv5.in, conv5.out = c, c
	s := append(trunk(c, unit), conv5.specs()...)
	return append(s, gapHead(c, unit.bias)...)
}

// gapFirst is step3's layout: L2's trunk at width 14, then conv5 (14→10)
// and conv6 (10→16) as blocks (conv6 with BatchNorm and ReLU but no
// Dropout), global average pooling, and a 1×1 convolution from 16 channels
// to the 10 classes. ARCHS.md's edit (b) of
// step2: 140 parameters fewer.
func gapFirst(unit block) []nn.Spec {
	conv5, conv6 := unit, unit
	conv5.in, conv5.out = 14, 10
	conv6.in, conv6.out = 10, 16
	conv6.dropout = 0 // as in step2, Dropout follows conv1–conv5 only
	s := append(trunk(14, unit), conv5.specs()...)
	s = append(s, conv6.specs()...)
	return append(s,
		nn.AdaptiveAvgPool2d{Size: 1},
		nn.Conv2d{In: 16, Out: 10, Kernel: 1, NoBias: true},
		nn.Flatten{},
		nn.LogSoftmax{Dim: 1},
	)
}

func init() {
	Register(Arch{
		Name:        "step1",
		Description: "vanilla: six 3×3 convs of width 32 with bias, two max-pools, GAP; no BatchNorm, no Dropout",
		Params:      40202, // 320 + 4·9,248 + 2,890
		Recipe:      Recipe{Epochs: 20, BatchSize: 128, LR: 0.01, Momentum: 0.9},
		layers:      func() []nn.Spec { return layout(32, block{bias: true}) },
	})
	Register(Arch{
		Name:        "step2",
		Description: "width 14, no biases, BatchNorm and Dropout 0.05 after conv1–conv5",
		Params:      8582, // (126+28) + 4·(1,764+28) + 1,260
		Recipe:      Recipe{Epochs: 15, BatchSize: 128, LR: 0.01, Momentum: 0.9},
		layers: func() []nn.Spec {
			return layout(14, block{bn: true, bnAffine: true, dropout: 0.05})
		},
	})
	Register(Arch{
		Name:        "step3",
		Description: "step2 with a GAP-then-1×1 head (conv5 14→10, conv6 10→16, GAP, 1×1 16→10); ±7° rotation, StepLR, batch 64",
		Params:      8442, // step2 − 140: conv5 −504−8, conv6 +180+32, 1×1 +160
		Recipe: Recipe{Epochs: 15, BatchSize: 64, LR: 0.1, Momentum: 0.9,
			StepSize: 6, Gamma: 0.1, Rotate: 7},
		layers: func() []nn.Spec {
			return gapFirst(block{bn: true, bnAffine: true, dropout: 0.05})
		},
	})
	Register(Arch{
		Name:        "tiny",
		Description: "step2's layout at width 9 without Dropout: six 3×3 convs, BatchNorm, two max-pools, GAP; OneCycle lr",
		Params:      3897, // (81+18) + 4·(729+18) + 810
		Recipe: Recipe{Epochs: 15, BatchSize: 32, LR: 0.05, Momentum: 0.9,
			Schedule: "onecycle", PctStart: 0.25, Rotate: 7},
		layers: func() []nn.Spec { return layout(9, block{bn: true, bnAffine: true}) },
	})
}

// PyTorch writes the architecture as Python code that builds the same
// network with torch.nn, so that Python can load a state dict saved here
// (each layer prints itself as PyTorch's repr, which is valid Python).
func (a Arch) PyTorch() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %s parameters\n", a.Name, Thousands(a.Params))
	b.WriteString("model = nn.Sequential(\n")
	for _, s := range a.layers() {
		fmt.Fprintf(&b, "    nn.%s,\n", s)
	}
	b.WriteString(")\n")
	return b.String()
}
