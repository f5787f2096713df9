package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/grid"
)

// writeSpec writes a search file around tiny trained for 5 epochs (so the
// rungs are epochs 1, 3 and 5) and reads it.
func writeSpec(t *testing.T, dir, body string) *Spec {
	t.Helper()
	base, err := models.Lookup("tiny")
	if err != nil {
		t.Fatal(err)
	}
	base.Recipe.Epochs = 5
	os.WriteFile(filepath.Join(dir, "tiny5.json"), base.MarshalFile(), 0o644)
	file := filepath.Join(dir, "search.json")
	os.WriteFile(file, []byte(body), 0o644)
	spec, err := ReadSpec(file)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// fakeRuns is an Executor that trains nothing: each segment's run folder
// gets a metrics.csv whose validation accuracy is the candidate's score in
// scores at every epoch; stopAt, when set, stops the search (as Ctrl-C
// would) as segment n starts.
type fakeRuns struct {
	t      *testing.T
	dir    string
	scores map[string]float64
	out    chan Outcome
	n      int
	stopAt int
	cancel context.CancelFunc
}

func (f *fakeRuns) Done() <-chan Outcome { return f.out }

func (f *fakeRuns) Start(g Segment, run grid.Run) {
	f.n++
	if f.n == f.stopAt {
		f.cancel()
		go func() { f.out <- Outcome{Segment: g, Stopped: true} }()
		return
	}
	dir := filepath.Join(f.dir, run.Dir)
	os.MkdirAll(dir, 0o755)
	epochs := g.StopAfter
	if epochs == 0 {
		epochs = 5
	}
	acc := f.scores[g.Candidate.ID]
	var rows []runfolder.EpochMetrics
	for e := 1; e <= epochs; e++ {
		rows = append(rows, runfolder.EpochMetrics{Epoch: e, TestAcc: acc, TestLoss: (100 - acc) / 100})
	}
	if err := runfolder.WriteMetrics(dir, rows, runfolder.EvalValidation); err != nil {
		f.t.Fatal(err)
	}
	go func() { f.out <- Outcome{Segment: g, OK: true} }()
}

const handSpec = `{"base": "tiny5.json", "seeds": "1", "candidates": 6, "rungs": [1, 3], "eta": 2,
	"recipe": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]}}`

// The scores of the example worked by hand below.
var handScores = map[string]float64{"c001": 98.0, "c002": 99.0, "c003": 97.0, "c004": 99.5, "c005": 96.0, "c006": 98.5}

// Asynchronous successive halving on one slot, η = 2, rungs at epochs 1,
// 3 and 5, against a run worked by hand. After each result, the first
// candidate in the best ⌊n/2⌋ of those that finished a rung (the highest
// rung first) and not promoted yet goes on; else a new candidate starts:
//
//	c001 98.0 at epoch 1: 1 finished, best 0: start c002
//	c002 99.0: best 1 of 2 is c002: promote it; 99.0 at epoch 3
//	epoch 3 has 1 (best 0); epoch 1's best 1 is c002, promoted: start c003
//	c003 97.0: best 1 of 3, c002 again: start c004
//	c004 99.5: best 2 of 4 are c004, c002: promote c004; 99.5 at epoch 3
//	epoch 3's best 1 of 2 is c004: promote it to the end
//	best 2 of 4 at epoch 1 both promoted: start c005 (96.0), then c006
//	c006 98.5: best 3 of 6 are c004, c002, c006: promote c006; 98.5 at 3
//	nothing left: 6 candidates, none promotable
func TestDecisionsByHand(t *testing.T) {
	s := driveFake(t, handSpec, handScores, 1)
	want := "start c001, reached c001 0, start c002, reached c002 0, promote c002 1, reached c002 1, " +
		"start c003, reached c003 0, start c004, reached c004 0, promote c004 1, reached c004 1, promote c004 2, reached c004 2, " +
		"start c005, reached c005 0, start c006, reached c006 0, promote c006 1, reached c006 1"
	if got := trace(s.State.Decisions); got != want {
		t.Errorf("decisions:\n%s\nwant:\n%s", got, want)
	}
	var best []string
	for _, c := range s.Best() {
		best = append(best, c.ID)
	}
	if got := strings.Join(best, " "); got != "c004 c002 c006 c001 c003 c005" {
		t.Errorf("best: %s", got)
	}
	// Epochs: c004 5, c002 and c006 3, the others 1: 14 of 6 × 5 = 30.
	if spent, full := s.EpochsTrained(); spent != 14 || full != 30 {
		t.Errorf("epochs %d of %d, want 14 of 30", spent, full)
	}
}

const closingSpec = `{"base": "tiny5.json", "seeds": "1", "candidates": 4, "rungs": [1, 3], "eta": 3,
	"recipe": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]}}`

// A finite search whose rungs thin out before the top still trains its
// best to the end: η = 3, 4 candidates, rungs at epochs 1, 3 and 5. ⌊n/3⌋
// promotes one from epoch 1 once 3 have reached it; at epoch 3, with 2
// there, ⌊2/3⌋ is 0. Worked by hand:
//
//	c001 98.0, c002 99.0 at epoch 1: best 0 of 1, 0 of 2: start the next
//	c003 97.0: best 1 of 3 is c002: promote it; 99.0 at epoch 3
//	epoch 3: 0 of 1; epoch 1's best is promoted: start c004
//	c004 99.5: best 1 of 4 is c004: promote it; 99.5 at epoch 3
//	epoch 3: 0 of 2; no candidates left, nothing running: the closing
//	promotion: epoch 3 promoted no one, its best is c004: to the end
//	then every rung has promoted one: the search ends
func TestClosingPromotion(t *testing.T) {
	s := driveFake(t, closingSpec, handScores, 1)
	want := "start c001, reached c001 0, start c002, reached c002 0, start c003, reached c003 0, promote c002 1, reached c002 1, " +
		"start c004, reached c004 0, promote c004 1, reached c004 1, promote c004 2, reached c004 2"
	if got := trace(s.State.Decisions); got != want {
		t.Errorf("decisions:\n%s\nwant:\n%s", got, want)
	}
	// Epochs: c004 5, c002 3, c001 and c003 1: 10 of 4 × 5 = 20.
	if spent, full := s.EpochsTrained(); spent != 10 || full != 20 {
		t.Errorf("epochs %d of %d, want 10 of 20", spent, full)
	}
}

// driveFake opens the search of the spec text in a new folder and drives
// it to the end with fake runs scored by scores, jobs at a time.
func driveFake(t *testing.T, text string, scores map[string]float64, jobs int) *Search {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(writeSpec(t, dir, text), filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRuns{t: t, dir: s.Dir, scores: scores, out: make(chan Outcome)}
	if err := s.Drive(context.Background(), f, jobs); err != nil {
		t.Fatal(err)
	}
	return s
}

func trace(ds []Decision) string {
	var parts []string
	for _, d := range ds {
		if d.Kind == "start" {
			parts = append(parts, "start "+d.Candidate)
		} else {
			parts = append(parts, fmt.Sprintf("%s %s %d", d.Kind, d.Candidate, d.Rung))
		}
	}
	return strings.Join(parts, ", ")
}

// A search stopped at any segment and opened again from its folder goes
// on with the same decisions and ends as the search that never stopped.
func TestStopAndContinue(t *testing.T) {
	for name, text := range map[string]string{"hand": handSpec, "closing": closingSpec} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			spec := writeSpec(t, dir, text)
			whole, _ := Open(spec, filepath.Join(dir, "whole"))
			f := &fakeRuns{t: t, dir: whole.Dir, scores: handScores, out: make(chan Outcome)}
			if err := whole.Drive(context.Background(), f, 1); err != nil {
				t.Fatal(err)
			}
			for stop := 1; stop <= f.n; stop++ {
				stopAndContinue(t, spec, filepath.Join(dir, fmt.Sprintf("stopped%d", stop)), stop, whole)
			}
		})
	}
}

// stopAndContinue runs the search of spec in out, stops it as segment stop
// starts, opens it again and finishes it: it must end as whole did.
func stopAndContinue(t *testing.T, spec *Spec, out string, stop int, whole *Search) {
	t.Helper()
	s, err := Open(spec, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &fakeRuns{t: t, dir: out, scores: handScores, out: make(chan Outcome), stopAt: stop, cancel: cancel}
	if err := s.Drive(ctx, g, 1); err != context.Canceled {
		t.Fatalf("stopped at segment %d: %v", stop, err)
	}
	again, err := Open(spec, out)
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeRuns{t: t, dir: out, scores: handScores, out: make(chan Outcome)}
	if err := again.Drive(context.Background(), h, 1); err != nil {
		t.Fatal(err)
	}
	if got, want := trace(again.State.Decisions), trace(whole.State.Decisions); got != want {
		t.Errorf("stopped at segment %d, then continued:\n%s\nwant:\n%s", stop, got, want)
	}
	if !reflect.DeepEqual(again.State.Candidates, whole.State.Candidates) {
		t.Errorf("stopped at segment %d: other candidates or scores", stop)
	}
}

// A candidate over the budget is never trained: the search draws again and
// counts it; equal candidates are tried once.
func TestBudgetAndRepeats(t *testing.T) {
	s := driveFake(t, `{"base": "tiny5.json", "seeds": "1", "candidates": 3, "budget": 4000, "rungs": [1],
		"layers": {"1.out": [9, 12, 40]}}`, map[string]float64{}, 2)
	// By hand: tiny (conv1 to 9 channels) has 3,897 parameters. With 12,
	// conv1 is 12·9 + 24 (BatchNorm) and conv2 9·12·9 + 18: 3,897 − (81 +
	// 18 + 729 + 18) + (108 + 24 + 972 + 18) = 4,173, over 4,000; with 40,
	// far over. So one candidate, drawn again and again.
	var outs []int
	for _, c := range s.State.Candidates {
		outs = append(outs, c.Arch.Layers[0].Out)
		if c.Params > 4000 {
			t.Errorf("%s has %d parameters, over the budget", c.ID, c.Params)
		}
	}
	if len(s.State.Candidates) != 1 || outs[0] != 9 || s.State.OverBudget == 0 || s.State.Repeats == 0 {
		t.Errorf("candidates with conv1 out %v; %d over the budget, %d repeats", outs, s.State.OverBudget, s.State.Repeats)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "c001", "seed1", runfolder.MetricsFile)); err != nil {
		t.Error(err)
	}
}
