package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/runfolder"
)

// plainConfig is shortConfig without step3's weight averaging.
func plainConfig(t *testing.T) Config {
	c := shortConfig(t)
	c.EMA = 0
	return c
}

// Averaging the weights changes what is evaluated, not how the net trains:
// the trained weights' figures of an averaging run are the figures of the
// same run without it, to the last digit.
func TestAveragingLeavesTrainingAlone(t *testing.T) {
	p := plainConfig(t)
	plain := mustRun(t, p)
	for _, tc := range []struct {
		name   string
		change func(*Config)
	}{
		{"ema", func(c *Config) { c.EMA = 0.9 }},
		{"swa", func(c *Config) { c.SWAStart = 2 }},
		// Recomputing the statistics runs dropout: the generator must be
		// left as it was.
		{"swa-recompute-bn", func(c *Config) { c.SWAStart, c.RecomputeBN = 2, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := plainConfig(t)
			tc.change(&c)
			var out bytes.Buffer
			avg, err := Run(context.Background(), c, &out)
			if err != nil {
				t.Fatal(err)
			}
			differs := false
			for i, m := range avg.Epochs {
				p := plain.Epochs[i]
				if m.TrainLoss != p.TrainLoss || m.RawTestLoss != p.TestLoss || m.RawTestAcc != p.TestAcc {
					t.Errorf("epoch %d: train loss %v, trained weights' loss %v and accuracy %v; without averaging %v, %v, %v",
						i+1, m.TrainLoss, m.RawTestLoss, m.RawTestAcc, p.TrainLoss, p.TestLoss, p.TestAcc)
				}
				differs = differs || m.TestLoss != m.RawTestLoss
			}
			if !differs {
				t.Error("the averaged weights evaluated exactly as the trained ones in every epoch")
			}
			// SWA starts averaging at the end of epoch 2: epoch 1 is the
			// trained weights.
			if c.SWAStart == 2 && avg.Epochs[0].TestLoss != avg.Epochs[0].RawTestLoss {
				t.Errorf("epoch 1 before SWA starts: loss %v, trained weights %v", avg.Epochs[0].TestLoss, avg.Epochs[0].RawTestLoss)
			}
			if !strings.Contains(out.String(), "(trained weights ") || !strings.Contains(avg.RecipeLine, "weights averaged") {
				t.Errorf("the output does not say what was evaluated:\n%s", out.String())
			}
			// model.pt is the averaged model: evaluated again, it gives the
			// last epoch's figures.
			last := avg.Epochs[len(avg.Epochs)-1]
			e := config(t, "step3")
			e.Threads = c.Threads
			var ev bytes.Buffer
			if err := Evaluate(context.Background(), filepath.Join(c.Out, runfolder.ModelFile), e, &ev); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("(%d/%d)", last.TestCorrect, last.TestTotal)
			if !strings.Contains(ev.String(), want) {
				t.Errorf("model.pt evaluates as\n%s\nwant %s, the last epoch's averaged figures", ev.String(), want)
			}
			ck, err := runfolder.ReadCheckpoint(filepath.Join(c.Out, runfolder.CheckpointFile))
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			if n := ck.Meta.Averaged; n == nil || *n < 1 {
				t.Errorf("the checkpoint counts %v averaging updates", n)
			}
		})
	}
}

// A run that averages its weights, stopped and resumed, ends exactly as the
// run that was never stopped: the checkpoint carries the average.
func TestAveragedRunResumes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
	}{
		{"ema", func(c *Config) { c.EMA = 0.95 }},
		{"swa", func(c *Config) { c.SWAStart = 1 }},
		{"ema-recompute-bn", func(c *Config) { c.EMA, c.RecomputeBN = 0.95, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := plainConfig(t)
			tc.change(&c)
			whole := mustRun(t, c)
			s := plainConfig(t)
			tc.change(&s)
			ctx, cancel := context.WithCancel(context.Background())
			s.afterBatch = interruptAt(2, cancel)
			var intr *Interrupted
			if _, err := Run(ctx, s, &bytes.Buffer{}); !errors.As(err, &intr) || intr.Epoch != 2 {
				t.Fatalf("interrupted run: %v", err)
			}
			r := config(t, "step3")
			r.Resume, r.Threads = s.Out, 2
			resumed := mustRun(t, r)
			sameMetrics(t, whole.Epochs, resumed.Epochs)
			for i := range whole.Epochs {
				if a, b := whole.Epochs[i], resumed.Epochs[i]; a.RawTestLoss != b.RawTestLoss || a.RawTestAcc != b.RawTestAcc {
					t.Errorf("epoch %d: trained weights %v/%v, resumed %v/%v", i+1, a.RawTestLoss, a.RawTestAcc, b.RawTestLoss, b.RawTestAcc)
				}
			}
		})
	}
}
