package pool

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/grid"
)

func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	r := grid.Run{Config: "tiny", Dir: filepath.Join("tiny", "seed1"), Args: []string{"-arch", "tiny", "-seed", "1"}}
	runDir := filepath.Join(dir, r.Dir)

	p, err := Prepare(dir, r, 1, "cpu")
	want := []string{"-arch", "tiny", "-seed", "1", "-out", runDir, "-threads", "1", "-device", "cpu", "-quiet"}
	if err != nil || p.State != Fresh || !slices.Equal(p.Args, want) {
		t.Fatalf("empty folder: %+v %v", p, err)
	}
	if err := Record(dir, r, 1, "cpu"); err != nil {
		t.Fatal(err)
	}
	// Recorded but not started (no checkpoint): still new.
	if p, err := Prepare(dir, r, 2, "cpu"); err != nil || p.State != Fresh {
		t.Errorf("recorded: %+v %v", p, err)
	}
	os.WriteFile(filepath.Join(runDir, runfolder.CheckpointFile), []byte("x"), 0o644)
	// A resumed run keeps the threads it started with (its record's 1, not
	// the new sweep's 2), and its slot's cores are claimed for those.
	if p, err := Prepare(dir, r, 2, "cpu"); err != nil || p.State != Resume || !slices.Equal(p.Args, []string{"-resume", runDir, "-quiet"}) || p.Threads != 1 {
		t.Errorf("checkpoint: %+v %v", p, err)
	}
	os.WriteFile(filepath.Join(runDir, runfolder.SummaryFile), []byte("{}"), 0o644)
	if p, err := Prepare(dir, r, 2, "cpu"); err != nil || p.State != Finished || len(p.Args) != 0 {
		t.Errorf("finished: %+v %v", p, err)
	}
	// The same folder asked to hold another run.
	other := r
	other.Args = []string{"-arch", "tiny", "-seed", "1", "-lr", "0.1"}
	if _, err := Prepare(dir, other, 1, "cpu"); err == nil || !strings.Contains(err.Error(), "holds a run with other settings") {
		t.Errorf("other settings: %v", err)
	}
	// The same settings written otherwise (as an earlier version wrote
	// them) are the same run.
	same := r
	same.Args = []string{"-arch=tiny", "--seed=1"}
	if p, err := Prepare(dir, same, 1, "cpu"); err != nil || p.State != Finished {
		t.Errorf("the same settings written otherwise: %+v %v", p, err)
	}
	// A train run the sweep did not start.
	os.Remove(filepath.Join(runDir, RunFile))
	if _, err := Prepare(dir, r, 1, "cpu"); err == nil || !strings.Contains(err.Error(), "did not start") {
		t.Errorf("foreign run: %v", err)
	}
}

func TestOverall(t *testing.T) {
	var mu sync.Mutex
	d := NewDisplay(&strings.Builder{}, nil, false, nil)
	tasks := []*Task{
		{Status: Skipped},
		// 2 epochs of 10 batches, all done.
		{Status: Done, Epoch: 2, Epochs: 2, FirstEpoch: 1, Batch: 10, Batches: 10},
		// Resumed at epoch 2 of 3: 20 batches to do, 5 done.
		{Status: Running, Epoch: 2, Epochs: 3, FirstEpoch: 2, Batch: 5, Batches: 10},
		// Not started: counted as the average known work, (20 + 20) / 2.
		{Status: Waiting},
	}
	d.tasks, d.taskMu, d.began = tasks, &mu, time.Now().Add(-25*time.Second)
	// 25 of 60 batches in 25 s: 35 s left.
	got := d.overall()
	for _, want := range []string{" 42%", "ETA 35s", "1/3 runs done, 1 running", "25s elapsed"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	tasks[2].Status, tasks[2].Err = Failed, "x"
	// A failed run does no more work: 25 done of 20 + 5 + 20.
	if got := d.overall(); !strings.Contains(got, " 56%") || !strings.Contains(got, "1 failed") {
		t.Errorf("after a failure: %q", got)
	}
}

// Each run's state is decided when it starts, not when the sweep started:
// a run to resume whose folder is deleted while another run trains starts
// afresh, and one finished meanwhile by another process is skipped. The
// train command here is a script that records its flags.
func TestStateDecidedAtStart(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(t.TempDir(), "calls")
	runs := []grid.Run{
		{Config: "tiny", Dir: filepath.Join("tiny", "seed1"), Args: []string{"-arch", "tiny", "-seed", "1"}},
		{Config: "tiny", Dir: filepath.Join("tiny", "seed2"), Args: []string{"-arch", "tiny", "-seed", "2"}},
		{Config: "tiny", Dir: filepath.Join("tiny", "seed3"), Args: []string{"-arch", "tiny", "-seed", "3"}},
	}
	// seed2 and seed3 are unfinished runs to resume, by their checkpoints.
	for _, r := range runs[1:] {
		if err := Record(dir, r, 1, "cpu"); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, r.Dir, runfolder.CheckpointFile), []byte("x"), 0o644)
	}
	// The first run deletes seed2's folder and finishes seed3, as a person
	// or another process might meanwhile; every run writes its summary.
	script := `
echo "$*" >> "$LOG"
out=""; prev=""
for a in "$@"; do
  case "$prev" in -out|-resume) out=$a ;; esac
  prev=$a
done
case "$out" in
  */seed1) rm -rf "$SWEEP/tiny/seed2"; echo '{}' > "$SWEEP/tiny/seed3/summary.json" ;;
esac
echo '{}' > "$out/summary.json"
`
	t.Setenv("LOG", log)
	t.Setenv("SWEEP", dir)
	out, err := Run(context.Background(), dir, runs, Options{Jobs: 1, Threads: 1, Device: "cpu", Command: []string{"bash", "-c", script, "train"}})
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(readFile(t, log)), "\n")
	if len(calls) != 2 || !strings.Contains(calls[1], "-arch tiny -seed 2 -out "+filepath.Join(dir, "tiny", "seed2")) {
		t.Errorf("train was called with:\n%s\nwant seed1, then seed2 afresh (its folder was deleted), not seed3", strings.Join(calls, "\n"))
	}
	for i, want := range []Status{Done, Done, Skipped} {
		if got := out.Tasks[i].Status; got != want {
			t.Errorf("run %d: %s, want %s (%s)", i+1, got, want, out.Tasks[i].Err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A display shows one pool at a time: a second pool started on it while
// the first shows is refused with an error (two live views would tick on
// the same lines and the second stop would close a closed channel); once
// the first stops, another may show, and stopping twice does nothing.
func TestDisplayOnePoolAtATime(t *testing.T) {
	var out strings.Builder
	d := NewDisplay(&out, nil, false, nil)
	opt := Options{Jobs: 1, Threads: 1, Device: "cpu", Display: d}
	dir := t.TempDir()
	first, err := StartWorkers(context.Background(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartWorkers(context.Background(), dir, opt); err == nil {
		t.Fatal("a second pool started on a display that shows one")
	}
	if _, err := Run(context.Background(), dir, nil, opt); err == nil {
		t.Fatal("Run started on a display that shows a pool")
	}
	first.Stop()
	first.Stop()
	second, err := StartWorkers(context.Background(), dir, opt)
	if err != nil {
		t.Fatalf("after the first pool stopped: %v", err)
	}
	second.Stop()
	// The overall line of an empty pool, written at each pool's stop and
	// not at the second stop of the first.
	if got := strings.Count(out.String(), "nothing to run"); got != 2 {
		t.Errorf("%d overall lines at the stops, want 2 (one per pool):\n%s", got, out.String())
	}
}
