package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/filetest"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/search"
)

// searchFile writes a small real search around tiny (3 epochs on 1,000
// images, 500 held out): 3 candidates on 2 seeds, one rung at epoch 1.
func searchFile(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	base, _ := models.Lookup("tiny")
	base.Recipe.Epochs = 3
	os.WriteFile(filepath.Join(dir, "tiny3.json"), base.MarshalFile(), 0o644)
	file := filepath.Join(dir, "small.json")
	os.WriteFile(file, []byte(`{"base": "tiny3.json", "seeds": "1-2", "candidates": 3, "rungs": [1], "eta": 2, "holdout": 500,
		"set": {"subset": 1000, "test-batch-size": 500}, "recipe": {"lr": [0.02, 0.05, 0.1]}`+extra+`}`), 0o644)
	return file
}

// A real search: it trains, stops runs at the rung, promotes, reports; a
// promoted run ends exactly as the same run trained without a stop; the
// same command again finds nothing left to do and keeps its decisions.
func TestSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small search")
	}
	file := searchFile(t, "")
	out := filepath.Join(t.TempDir(), "search")
	stdout, stderr, code := runSweep(t, nil, "-search", file, "-out", out, "-jobs", "2", "-threads", "1")
	if code != 0 {
		t.Fatalf("search: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{search.MarkdownFile, search.CSVFile, search.FrontierPNG, search.RungsPNG, search.StateFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	md := readFile(filepath.Join(out, search.MarkdownFile))
	if !strings.Contains(md, "Drawn ") || !strings.Contains(md, "3 candidates trained") || !strings.Contains(md, "## Survivors") {
		t.Errorf("SEARCH.md:\n%s", md)
	}
	var st search.State
	json.Unmarshal([]byte(readFile(filepath.Join(out, search.StateFile))), &st)
	var top []*search.Candidate
	for _, c := range st.Candidates {
		if c.Reached == 1 {
			top = append(top, c)
		}
	}
	if len(top) == 0 {
		t.Fatalf("no candidate reached the end:\n%s", md)
	}
	// The survivor's runs were stopped after epoch 1 and resumed: the
	// same run trained straight through gives the same metrics.
	c := top[0]
	for _, seed := range []string{"1", "2"} {
		runDir := filepath.Join(out, c.ID, "seed"+seed)
		straight := filepath.Join(t.TempDir(), "straight")
		cmd := exec.Command(sweepBin(t), "train", "-arch", filepath.Join(out, search.CandidatesDir, c.ID+".json"), "-holdout", "500",
			"-subset", "1000", "-test-batch-size", "500", "-seed", seed, "-threads", "1", "-quiet", "-out", straight)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("straight run: %v\n%s", err, b)
		}
		a, err1 := runfolder.ReadMetrics(runDir)
		b, err2 := runfolder.ReadMetrics(straight)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !slices.Equal(losses(a), losses(b)) {
			t.Errorf("%s seed %s: stopped and resumed %v, straight %v", c.ID, seed, losses(a), losses(b))
		}
		res, err := runfolder.ReadResult(runDir)
		if err != nil || len(res.ResumedAt) != 1 || res.ResumedAt[0] != 1 {
			t.Errorf("%s seed %s: %v, resumed after %v", c.ID, seed, err, res.ResumedAt)
		}
	}
	// Again: nothing left to do, the same decisions.
	stdout, stderr, code = runSweep(t, nil, "-search", file, "-out", out, "-jobs", "2", "-threads", "1")
	var again search.State
	json.Unmarshal([]byte(readFile(filepath.Join(out, search.StateFile))), &again)
	if code != 0 || len(again.Decisions) != len(st.Decisions) || strings.Contains(stdout, "started") {
		t.Errorf("the search again: exit %d, %d decisions (was %d)\n%s%s", code, len(again.Decisions), len(st.Decisions), stdout, stderr)
	}
	// -report on the folder writes the same report.
	if stdout, stderr, code := runSweep(t, nil, "-report", out); code != 0 || !strings.Contains(stdout, "# Search search") {
		t.Errorf("-report: exit %d\n%s%s", code, stdout, stderr)
	}
}

// -final after a search, in the same command: the best two candidates on
// two fresh validation seeds, the better of them on two test seeds, and
// FINAL.md with both tables.
func TestSearchFinal(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small search")
	}
	file := searchFile(t, `, "final": {"top": 2, "seeds": "11-12", "test_seeds": "21-22"}`)
	out := filepath.Join(t.TempDir(), "search")
	stdout, stderr, code := runSweep(t, nil, "-search", file, "-out", out, "-jobs", "2", "-threads", "1", "-final")
	if code != 0 || strings.Contains(stderr, "panic") {
		t.Fatalf("-search -final: exit %d\n%s%s", code, stdout, stderr)
	}
	md := readFile(filepath.Join(out, "FINAL.md"))
	filetest.Contains(t, "FINAL.md", md, "## Validation", "## Test set: c", "| 11 |", "| 12 |", "| 21 |", "| 22 |", " of 2 |")
	val, _ := filepath.Glob(filepath.Join(out, "final", "validation", "c*", "seed*"))
	test, _ := filepath.Glob(filepath.Join(out, "final", "test", "c*", "seed*"))
	if len(val) != 4 || len(test) != 2 {
		t.Errorf("final runs: validation %q, test %q", val, test)
	}
	for _, dir := range test {
		res, err := runfolder.ReadResult(dir)
		if err != nil || res.EvaluatedOn != runfolder.EvalTest || res.TrainImages != 1000 {
			t.Errorf("%s: %v; evaluated on %q, %d training images (want the test set, and the search's subset of 1,000)", dir, err, res.EvaluatedOn, res.TrainImages)
		}
	}
}

// losses are each epoch's train and validation losses.
func losses(rows []runfolder.EpochMetrics) []float64 {
	var out []float64
	for _, m := range rows {
		out = append(out, m.TrainLoss, m.TestLoss)
	}
	return out
}

// A search file with something wrong, or a folder of another search, is
// refused in one line, exit 2, before anything trains.
func TestSearchRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ extra, want string }{
		{`, "budget": -1`, "budget must not be negative"},
		{`, "layers": {"99.out": [3]}`, `"99.out" is not INDEX.OPTION`},
		{`, "layers": {"1.kernal": [3]}`, `unknown option "kernal"`},
		{`, "optional": [0]`, "optional: layer 0"},
		{`, "score": "best"`, `score must be "val_acc" or "val_loss"`},
		{`, "set": {"seed": 3}`, "-set seed: not a sweep setting"},
		{`, "set": {"holdout": 3}`, "holdout is the search's own"},
	} {
		_, errOut, code := runSweep(t, nil, "-search", searchFile(t, tc.extra), "-out", filepath.Join(dir, "s"), "-dry-run")
		if msg := strings.TrimSpace(errOut); code != 2 || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: exit %d, %q; want exit 2 and one line with %q", tc.extra, code, msg, tc.want)
		}
	}
	// The dry run lists the first draws with their parameters.
	stdout, stderr, code := runSweep(t, nil, "-search", searchFile(t, `, "budget": 3000`), "-out", filepath.Join(dir, "s"), "-dry-run")
	if code != 0 || !strings.Contains(stdout, "draw 1: 3897 parameters, over the budget: lr=") {
		t.Errorf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "s")); !os.IsNotExist(err) {
		t.Errorf("a dry run made the folder: %v", err)
	}
}

// The search on a real one-node Slurm cluster: every run segment is a job
// submitted by the search, and with one job at a time the decisions, the
// scores and the survivors' runs are those of the same search on the pool
// with one slot.
func TestSlurmSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Slurm cluster and trains a small search twice")
	}
	env := startCluster(t)
	file := searchFile(t, "")
	onSlurm := filepath.Join(t.TempDir(), "slurm")
	stdout, stderr, code := runSweep(t, env, "-search", file, "-out", onSlurm, "-slurm", "-jobs", "1", "-threads", "1")
	if code != 0 || !strings.Contains(stdout, "submitted") {
		t.Fatalf("-search -slurm: exit %d\n%s%s", code, stdout, stderr)
	}
	local := filepath.Join(t.TempDir(), "local")
	if stdout, stderr, code := runSweep(t, nil, "-search", file, "-out", local, "-jobs", "1", "-threads", "1"); code != 0 {
		t.Fatalf("search on the pool: exit %d\n%s%s", code, stdout, stderr)
	}
	var a, b search.State
	if err := json.Unmarshal([]byte(readFile(filepath.Join(onSlurm, search.StateFile))), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(readFile(filepath.Join(local, search.StateFile))), &b); err != nil {
		t.Fatal(err)
	}
	if len(a.Decisions) == 0 || !slices.Equal(a.Decisions, b.Decisions) {
		t.Errorf("decisions on Slurm %+v, on the pool %+v", a.Decisions, b.Decisions)
	}
	for _, c := range b.Candidates {
		if c.Reached != 1 {
			continue
		}
		for _, seed := range []string{"seed1", "seed2"} {
			x, err1 := runfolder.ReadMetrics(filepath.Join(onSlurm, c.ID, seed))
			y, err2 := runfolder.ReadMetrics(filepath.Join(local, c.ID, seed))
			if err1 != nil || err2 != nil || !slices.Equal(losses(x), losses(y)) {
				t.Errorf("%s %s: on Slurm %v (%v), on the pool %v (%v)", c.ID, seed, losses(x), err1, losses(y), err2)
			}
		}
	}
	// Again: the search is finished, nothing is submitted.
	stdout, stderr, code = runSweep(t, env, "-search", file, "-out", onSlurm, "-slurm", "-jobs", "1", "-threads", "1")
	if code != 0 || strings.Contains(stdout, "submitted") {
		t.Errorf("the search again: exit %d\n%s%s", code, stdout, stderr)
	}
}
