package engine

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/filetest"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/torch/optim"
)

func TestRecipeFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Schedule = "cosine" }, "-schedule"},
		{func(c *Config) { c.Schedule, c.StepSize = "step", 0 }, "-step-size"},
		{func(c *Config) { c.Schedule, c.PctStart = "onecycle", 1 }, "-pct-start"},
		{func(c *Config) { c.WeightDecay = -1e-4 }, "-weight-decay"},
		{func(c *Config) { c.LabelSmoothing = 1 }, "-label-smoothing"},
		{func(c *Config) { c.LabelSmoothing = -0.1 }, "-label-smoothing"},
		{func(c *Config) { c.Holdout = 60000 }, "-holdout"},
		{func(c *Config) { c.Holdout = -1 }, "-holdout"},
	} {
		c := config(t, "step3")
		tc.change(&c)
		_, err := Run(context.Background(), c, &bytes.Buffer{})
		if !IsInputError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an input error naming %q, got %v", tc.want, err)
		}
	}
}

// A run with -holdout trains on the first training images and evaluates on
// the held-out last ones, never touching the test set; a OneCycle schedule
// sets the lr every batch, and the lr recorded for each epoch is the
// schedule's at its first step.
func TestHoldoutAndOneCycle(t *testing.T) {
	c := config(t, "step3")
	c.Subset, c.Holdout, c.Epochs, c.Threads = 640, 500, 3, 2
	c.Schedule, c.PctStart, c.LR, c.WeightDecay, c.LabelSmoothing = "onecycle", 0.4, 0.05, 1e-4, 0.1
	var out bytes.Buffer
	res, err := Run(context.Background(), c, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	filetest.Contains(t, "output", text, "the last 500 training images held out", "validation loss", "best validation accuracy", "OneCycle(peak at 40% of the steps)", "weight decay 0.0001", "label smoothing 0.1")
	if res.EvaluatedOn != "validation" || res.TestImages != 500 || res.TrainImages != 640 || res.Epochs[0].TestTotal != 500 {
		t.Errorf("evaluated on %q, %d images (%d train)", res.EvaluatedOn, res.TestImages, res.TrainImages)
	}
	oc := optim.DefaultOneCycle
	oc.PctStart = 0.4
	batches := 10 // 640 / 64
	for e, m := range res.Epochs {
		if want := oc.StepLR(0.05, e*batches, 3*batches); math.Abs(m.LR-want) > 1e-15 {
			t.Errorf("epoch %d: lr %v, want %v", e+1, m.LR, want)
		}
	}

	// The recipe is kept on resume; a OneCycle run cannot be extended.
	r := config(t, "step3")
	r.Resume, r.Epochs, r.Overridden = c.Out, 5, map[string]bool{"epochs": true}
	if _, err := Run(context.Background(), r, &bytes.Buffer{}); !IsInputError(err) || !strings.Contains(err.Error(), "OneCycle") {
		t.Errorf("extending a OneCycle run: %v", err)
	}
	r.Epochs, r.Holdout, r.Overridden = 3, 0, map[string]bool{"holdout": true}
	if _, err := Run(context.Background(), r, &bytes.Buffer{}); !IsInputError(err) || !strings.Contains(err.Error(), "-holdout") {
		t.Errorf("changing -holdout on resume: %v", err)
	}
	r.Holdout, r.LabelSmoothing, r.Overridden = 500, 0, map[string]bool{"label-smoothing": true}
	if _, err := Run(context.Background(), r, &bytes.Buffer{}); !IsInputError(err) || !strings.Contains(err.Error(), "-label-smoothing") {
		t.Errorf("changing -label-smoothing on resume: %v", err)
	}
}

// Every recipe field has its flag, help and JSON name, and shows in the
// banner's recipe line: changing it changes the line (for step3's StepLR
// recipe or tiny's OneCycle one, since each schedule shows its own fields).
func TestRecipeLineCoversEveryField(t *testing.T) {
	for _, f := range models.RecipeFields() {
		if f.Flag == "" || f.Help == "" || f.JSON == "" {
			t.Errorf("recipe field %d lacks a flag, help or json tag", f.Index)
		}
		shown := false
		for _, arch := range []string{"step3", "tiny"} {
			c := config(t, arch)
			before := c.recipeLine()
			switch p := c.Recipe.Ptr(f).(type) {
			case *int:
				*p += 1
			case *float64:
				*p = *p*1.5 + 0.01
			case *string:
				*p = "constant"
			case *bool:
				*p = !*p
			}
			shown = shown || c.recipeLine() != before
		}
		if !shown {
			t.Errorf("-%s does not show in the recipe line", f.Flag)
		}
	}
}
