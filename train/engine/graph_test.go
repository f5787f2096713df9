package engine

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/torch"
)

// The CUDA graph step's data flow, checked on the CPU: the step body that a
// GPU captures once and replays runs here eagerly on the same static
// tensors (the batch copied into the captured inputs, the rate and the EMA
// weight read from device scalars, the tally kept for the whole run, the
// evaluation set kept on the device). It must train as the plain step does.
// The one arithmetic difference is the update p − g·lr with lr read from a
// tensor, which libtorch may round apart from its scalar form where it
// fuses the multiply-add (on this project's machine they agree to the last
// digit), so the figures must agree to a part in 10⁴: a stale input, rate or
// weight moves them by far more.
func TestGraphStepTrainsAsTheEagerStep(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
	}{
		// step3: StepLR, EMA 0.999 (warm-up weights change every step).
		{"step3", func(*Config) {}},
		// A rate that changes every batch.
		{"onecycle", func(c *Config) { c.Schedule, c.EMA = "onecycle", 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := shortConfig(t)
			base.Subset = 650 // ten batches of 64 and one of 10, which runs eagerly
			tc.change(&base)
			plain := mustRun(t, base)
			c := shortConfig(t)
			c.Subset = 650
			tc.change(&c)
			c.emulateGraphs = true
			replays, eager := 0, 0
			c.afterBatch = func(epoch, batch int, s *stepper) {
				if s.graph == nil {
					t.Fatal("no graph step")
				}
				if batch < 10 && s.graph.steps > graphWarmup && s.graph.loss != nil {
					replays++
				} else {
					eager++
				}
			}
			graphed := mustRun(t, c)
			// 3 epochs × 11 batches: 3 warm-up steps and the three short
			// batches eager, the rest through the graph body.
			if replays != 27 || eager != 6 {
				t.Errorf("%d graph steps and %d eager ones, want 27 and 6", replays, eager)
			}
			for i, g := range graphed.Epochs {
				p := plain.Epochs[i]
				if g.LR != p.LR {
					t.Errorf("epoch %d: lr %v, eager %v", i+1, g.LR, p.LR)
				}
				for _, v := range [][3]any{
					{"train loss", g.TrainLoss, p.TrainLoss},
					{"test loss", g.TestLoss, p.TestLoss},
					{"trained weights' test loss", g.RawTestLoss, p.RawTestLoss},
				} {
					a, b := v[1].(float64), v[2].(float64)
					if math.Abs(a-b) > 1e-4*math.Abs(b) {
						t.Errorf("epoch %d: %s %v, eager %v", i+1, v[0], a, b)
					}
				}
				if d := g.TestCorrect - p.TestCorrect; d < -2 || d > 2 {
					t.Errorf("epoch %d: %d test images right, eager %d", i+1, g.TestCorrect, p.TestCorrect)
				}
			}
		})
	}
}

// Off the GPU, or in a build without CUDA graphs, a run says nothing of
// graphs and trains eagerly; asking for CUDA on a CPU-only libtorch says
// why in one line.
func TestCUDAGraphsUnsupportedHere(t *testing.T) {
	if torch.CUDAAvailable() {
		t.Skip("this machine has CUDA")
	}
	if why := torch.CUDAGraphsUnsupported(); why != "" && !strings.Contains(why, "CUDA") {
		t.Errorf("CUDAGraphsUnsupported() = %q", why)
	}
	c := shortConfig(t)
	c.Epochs = 1
	var out bytes.Buffer
	if _, err := Run(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "CUDA graphs") {
		t.Errorf("a CPU run mentions CUDA graphs:\n%s", out.String())
	}
}
