package report

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/filetest"
	"github.com/tinydigits/tinydigits/runfolder"
)

// writeRun writes a finished run's summary.json with the given last three
// accuracies (which are also its epochs 1-3).
func writeRun(t *testing.T, dir, arch string, params int64, seed uint64, accs [3]float64, wall float64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &runfolder.Result{Arch: arch, Params: params, Seed: seed, Device: "cpu", Threads: 1, Target: 99.4,
		LastTestAccs: accs[:], WallSeconds: wall, TestImages: 10000, EvaluatedOn: "test",
		RecipeLine: "3 epochs, batch 32, SGD lr 0.05, seed " + string(rune('0'+seed))}
	r.Consistent = true
	for i, a := range accs {
		r.Epochs = append(r.Epochs, runfolder.EpochMetrics{Epoch: i + 1, TestAcc: a})
		if a > r.BestTestAcc {
			r.BestTestAcc, r.BestEpoch = a, i+1
		}
		r.Consistent = r.Consistent && a >= 99.4
	}
	if err := runfolder.WriteResult(dir, r); err != nil {
		t.Fatal(err)
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, filepath.Join(dir, "tiny,lr=0.05", "seed1"), "tiny", 3897, 1, [3]float64{99.40, 99.50, 99.60}, 60)
	writeRun(t, filepath.Join(dir, "tiny,lr=0.05", "seed2"), "tiny", 3897, 2, [3]float64{99.30, 99.40, 99.50}, 120)
	writeRun(t, filepath.Join(dir, "step3", "seed1"), "step3", 8442, 1, [3]float64{99.50, 99.50, 99.50}, 300)
	// An unfinished run: the sweep's record only.
	os.MkdirAll(filepath.Join(dir, "tiny,lr=0.05", "seed3"), 0o755)
	os.WriteFile(filepath.Join(dir, "tiny,lr=0.05", "seed3", "sweep-run.json"), []byte("{}"), 0o644)
	// Not runs: a file, a folder without seeds, a seed folder holding nothing.
	os.WriteFile(filepath.Join(dir, "sweep.log"), nil, 0o644)
	os.MkdirAll(filepath.Join(dir, "slurm"), 0o755)
	os.MkdirAll(filepath.Join(dir, "step3", "seed9"), 0o755)

	s, err := Collect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Configs) != 2 {
		t.Fatalf("%d configurations, want 2", len(s.Configs))
	}
	// By hand: the six accuracies 99.4 99.5 99.6 99.3 99.4 99.5 have mean
	// 99.45 and squared deviations summing to 0.055, so sd = sqrt(0.055/5)
	// = 0.1049; the bests 99.6 and 99.5 have mean 99.55 and sd 0.0707.
	var tiny *Config
	for _, c := range s.Configs {
		if c.Name == "tiny,lr=0.05" {
			tiny = c
		}
	}
	st, ok := tiny.Stats()
	near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	if !ok || !near(st.LastMean, 99.45) || !near(st.LastSD*st.LastSD, 0.011) || st.Lowest != 99.3 || st.Held != 1 ||
		!near(st.BestMean, 99.55) || !near(st.BestSD*st.BestSD, 0.005) || st.LastN != 6 || st.WallMean != 90 {
		t.Errorf("stats %+v", st)
	}
	if st.Recipe != "3 epochs, batch 32, SGD lr 0.05" {
		t.Errorf("recipe %q", st.Recipe)
	}

	files, err := s.Write()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(files, " ") != "SWEEP.md sweep.csv accuracy.png params.png" {
		t.Errorf("files %v", files)
	}
	wantInReport(t, dir,
		"2 configurations, 4 runs (3 finished, 1 unfinished)",
		// step3's 99.50 ranks above tiny's 99.45.
		"| step3 | 8,442 | 1 | 99.50 ± 0.00 | 99.50 | 99.50 ± 0.00 | 1 of 1 (≥ 99.40%) | 5.0 min |\n| tiny,lr=0.05 | 3,897 | 2 | 99.45 ± 0.10 | 99.30 | 99.55 ± 0.07 | 1 of 2 (≥ 99.40%) | 1.5 min |",
		"| seed | best test acc % (epoch) | last 3 epochs % | lowest of last 3 | all last 3 ≥ 99.40% | wall time |",
		"| 1 | 99.60 (3) | 99.40, 99.50, 99.60 | 99.40 | yes | 1.0 min |",
		"| 2 | 99.50 (3) | 99.30, 99.40, 99.50 | 99.30 | no | 2.0 min |",
		"| mean ± sd | 99.55 ± 0.07 | 99.45 ± 0.10 (all 6) | 99.30 (lowest) | 1 of 2 | 1.5 min |",
		"Unfinished: "+filepath.Join("tiny,lr=0.05", "seed3"),
	)
	rows, err := filetest.CSV(filepath.Join(dir, CSVFile))
	if err != nil || len(rows) != 3 || rows[1][0] != "step3" || rows[2][0] != "tiny,lr=0.05" || rows[2][5] != "99.4500" || rows[2][11] != "1" {
		t.Errorf("sweep.csv: %v %q", err, rows)
	}
	for _, name := range []string{AccuracyPNG, ParamsPNG} {
		filetest.PNG(t, filepath.Join(dir, name), 300)
	}

	// One net only: no params.png, and an old one goes.
	os.RemoveAll(filepath.Join(dir, "step3"))
	s, _ = Collect(dir)
	if files, err := s.Write(); err != nil || len(files) != 3 {
		t.Errorf("one net: %v %v", files, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ParamsPNG)); !os.IsNotExist(err) {
		t.Errorf("params.png left behind: %v", err)
	}
}

func TestCollectRefuses(t *testing.T) {
	if _, err := Collect(t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds no sweep runs") {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := Collect(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing folder: no error")
	}
}

// A damaged summary.json does not stop the report: the run is listed as
// unreadable, naming the file and the reason, and the others are reported.
func TestReportUnreadableSummary(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, filepath.Join(dir, "tiny", "seed1"), "tiny", 3897, 1, [3]float64{99.40, 99.50, 99.60}, 60)
	writeRun(t, filepath.Join(dir, "tiny", "seed2"), "tiny", 3897, 2, [3]float64{99.30, 99.40, 99.50}, 60)
	summary := filepath.Join(dir, "tiny", "seed2", runfolder.SummaryFile)
	if err := os.Truncate(summary, 100); err != nil {
		t.Fatal(err)
	}
	s, err := Collect(dir)
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	s.Markdown(&md)
	filetest.Contains(t, "SWEEP.md", md.String(),
		"2 runs (1 finished, 0 unfinished, 1 unreadable)",
		"Unreadable, not counted: "+filepath.Join("tiny", "seed2", "summary.json")+": unexpected end of JSON input",
		"| tiny | 3,897 | 1 | 99.50 ± 0.10 |",
	)
}

// Test and validation accuracies are of different images: a sweep over
// -holdout ranks each set's configurations in a table of its own.
func TestReportRanksEvaluationSetsApart(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, filepath.Join(dir, "tiny,holdout=0", "seed1"), "tiny", 3897, 1, [3]float64{99.40, 99.40, 99.40}, 60)
	writeRun(t, filepath.Join(dir, "tiny,holdout=5000", "seed1"), "tiny", 3897, 1, [3]float64{99.60, 99.60, 99.60}, 60)
	val, err := runfolder.ReadResult(filepath.Join(dir, "tiny,holdout=5000", "seed1"))
	if err != nil {
		t.Fatal(err)
	}
	val.EvaluatedOn = "validation"
	runfolder.WriteResult(filepath.Join(dir, "tiny,holdout=5000", "seed1"), val)
	s, err := Collect(dir)
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	s.Markdown(&md)
	text := md.String()
	v := strings.Index(text, "Ranked by the mean of the last three epochs' validation accuracy over the seeds, among the configurations evaluated on the validation set")
	te := strings.Index(text, "Ranked by the mean of the last three epochs' test accuracy over the seeds, among the configurations evaluated on the test set")
	if v < 0 || te < 0 {
		t.Fatalf("SWEEP.md does not rank the two sets apart:\n%s", text)
	}
	// Each table holds its own configuration only.
	first, second := text[v:te], text[te:]
	if !strings.Contains(first, "| tiny,holdout=5000 |") || strings.Contains(first, "| tiny,holdout=0 |") || !strings.Contains(second, "| tiny,holdout=0 |") {
		t.Errorf("tables:\n%s", text)
	}
}

// Runs that average their weights also report their trained weights'
// figures: per seed, in the ranking and in sweep.csv.
func TestReportAveragedRuns(t *testing.T) {
	dir := t.TempDir()
	raws := map[uint64][3]float64{1: {99.30, 99.40, 99.50}, 2: {99.40, 99.45, 99.50}}
	for seed, raw := range raws {
		run := filepath.Join(dir, "tiny,ema=0.999", "seed"+string(rune('0'+seed)))
		writeRun(t, run, "tiny", 3897, seed, [3]float64{99.5, 99.5, 99.6}, 60)
		r, err := runfolder.ReadResult(run)
		if err != nil {
			t.Fatal(err)
		}
		for i := range r.Epochs {
			r.Epochs[i].RawTestAcc = raw[i]
		}
		if err := runfolder.WriteResult(run, r); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Collect(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.Configs[0].Stats()
	// By hand: 99.30 99.40 99.50 99.40 99.45 99.50 have mean 99.425, squared
	// deviations 0.015625+0.000625+0.005625+0.000625+0.000625+0.005625 =
	// 0.02875, sd = sqrt(0.02875/5); seed 1 falls short at 99.30.
	if r := st.Raw; r == nil || math.Abs(r.LastMean-99.425) > 1e-9 || math.Abs(r.LastSD*r.LastSD-0.00575) > 1e-9 || r.Lowest != 99.3 || r.Held != 1 {
		t.Errorf("raw stats %+v", st.Raw)
	}
	if _, err := s.Write(); err != nil {
		t.Fatal(err)
	}
	wantInReport(t, dir,
		"tiny,ema=0.999 evaluates averaged weights; its trained weights (the same runs without averaging): last 3 epochs 99.42 ± 0.08, lowest 99.30, 1 of 2 seeds holding the target.",
		"| 1 | 99.30, 99.40, 99.50 | 99.30 | no |",
		"| 2 | 99.40, 99.45, 99.50 | 99.40 | yes |",
		"| mean ± sd | 99.42 ± 0.08 | 99.30 (lowest) | 1 of 2 |",
	)
	rows, err := filetest.CSV(filepath.Join(dir, CSVFile))
	if err != nil || len(rows) != 2 || rows[0][17] != "raw_last3_mean" || rows[1][17] != "99.4250" || rows[1][19] != "99.3000" || rows[1][20] != "1" {
		t.Errorf("sweep.csv: %v %q", err, rows)
	}
}

// wantInReport fails the test for each of wants that dir's SWEEP.md does
// not hold.
func wantInReport(t *testing.T, dir string, wants ...string) {
	t.Helper()
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	filetest.Contains(t, "SWEEP.md", string(md), wants...)
}
