package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMeanStd(t *testing.T) {
	// 99.40, 99.50, 99.60: mean 99.5, sample sd 0.1.
	m, s := meanStd([]float64{99.4, 99.5, 99.6})
	if abs(m-99.5) > 1e-9 || abs(s-0.1) > 1e-9 {
		t.Errorf("meanStd = %v, %v; want 99.5, 0.1", m, s)
	}
	if m, s := meanStd([]float64{7}); m != 7 || s != 0 {
		t.Errorf("one value: %v, %v", m, s)
	}
}

func abs(x float64) float64 { return max(x, -x) }

func TestTable(t *testing.T) {
	dir := t.TempDir()
	write := func(seed, body string) {
		if err := os.MkdirAll(filepath.Join(dir, "seed"+seed), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "seed"+seed, "summary.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("2", `{"arch":"tiny","params":3900,"seed":2,"device":"cpu","threads":2,"recipe_line":"r","evaluated_on":"test","test_images":10000,"target":99.4,
		"best_test_acc":99.5,"best_epoch":14,"last3_test_acc":[99.45,99.5,99.4],"consistent":true,"wall_seconds":180}`)
	write("1", `{"arch":"tiny","params":3900,"seed":1,"device":"cpu","threads":2,"recipe_line":"r","evaluated_on":"test","test_images":10000,"target":99.4,
		"best_test_acc":99.4,"best_epoch":13,"last3_test_acc":[99.35,99.4,99.4],"consistent":false,"wall_seconds":240}`)
	var b strings.Builder
	if err := table(&b, dir); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"tiny, 3,900 parameters: 2 seeds, test accuracy (10000 images)",
		"| 1 | 99.40 (13) | 99.35, 99.40, 99.40 | 99.35 | no | 4.0 min |",
		"| 2 | 99.50 (14) | 99.45, 99.50, 99.40 | 99.40 | yes | 3.0 min |",
		// best: mean 99.45, sd sqrt(2·0.05²) = 0.0707; last six: mean 99.4167.
		"| mean ± sd | 99.45 ± 0.07 | 99.42 ± 0.05 (all 6) | 99.35 (lowest) | 1 of 2 | 3.5 min |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if err := table(&b, t.TempDir()); err == nil {
		t.Error("an empty folder gave a table")
	}
}
