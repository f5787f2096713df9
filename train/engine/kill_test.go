package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/runfolder"
)

// killChild is how a child process of this test binary runs: the config
// to Run, and the change of a file (1-based, counted by atomicfile) before
// which it kills itself with SIGKILL; 0 runs to the end and prints how
// many changes there were.
type killChild struct {
	Config Config
	KillAt int
}

const killChildEnv = "TINYDIGITS_KILL_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(killChildEnv); spec != "" {
		os.Exit(runKillChild(spec))
	}
	os.Exit(m.Run())
}

// runKillChild is the child's side: Run, killed outright at a change.
func runKillChild(spec string) int {
	var k killChild
	if err := json.Unmarshal([]byte(spec), &k); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	changes := 0
	atomicfile.BeforeChange = func(path string) {
		changes++
		if changes == k.KillAt {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	if _, err := Run(context.Background(), k.Config, &bytes.Buffer{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(changes)
	return 0
}

// killedAt runs cfg in a child process killed before its n-th change of a
// file (n = 0: not killed) and returns how many changes it made when not
// killed.
func killedAt(t *testing.T, cfg Config, n int) int {
	t.Helper()
	cfg.Progress = new(bool)
	spec, err := json.Marshal(killChild{Config: cfg, KillAt: n})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+string(spec))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if n == 0 {
		if err != nil {
			t.Fatalf("child: %v\n%s", err, stderr.String())
		}
		changes, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
		if err != nil {
			t.Fatalf("child printed %q", stdout.String())
		}
		return changes
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was to be killed at change %d: %v\n%s", n, err, stderr.String())
	}
	return 0
}

// copyDir copies a run folder's files.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	os.MkdirAll(to, 0o755)
	for name, data := range snapshot(t, from) {
		if err := os.WriteFile(filepath.Join(to, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A run killed outright (SIGKILL) before any one of the file changes it
// makes, in turn, leaves a folder that the command a user would type next
// finishes to exactly the metrics, summary and model of the run that was
// never killed: a fresh run (finished with -continue, which also starts
// over where nothing was saved yet), a resumed one, and a finished run
// extended with -epochs (finished with -resume -epochs).
func TestKillAtEveryWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a few dozen short runs")
	}
	base := config(t, "step3")
	base.Subset, base.Holdout, base.TestBatchSize, base.Epochs, base.Threads = 128, 200, 200, 2, 1
	base.Overridden = map[string]bool{}

	whole := base
	whole.Out = t.TempDir()
	want := mustRun(t, whole)
	longer := base
	longer.Out, longer.Epochs = t.TempDir(), 3
	wantLonger := mustRun(t, longer)

	// The folders the killed commands start from.
	stopped := t.TempDir() // epoch 1 of 2 saved, stopped in epoch 2
	s := base
	s.Out = stopped
	stopAtEpoch(t, s, 1)
	finished := t.TempDir() // 2 epochs, finished
	f := base
	f.Out = finished
	mustRun(t, f)

	resume := func(dir string, epochs int) Config {
		r, err := DefaultConfig("step3")
		if err != nil {
			t.Fatal(err)
		}
		r.Quiet, r.Resume, r.Overridden = true, dir, map[string]bool{}
		if epochs > 0 {
			r.Epochs, r.Overridden["epochs"] = epochs, true
		}
		return r
	}
	for _, sc := range []struct {
		name  string
		from  string // a folder to start from, "" for none
		run   func(dir string) Config
		again func(dir string) Config // what a user types next
		want  *runfolder.Result
		wantD string
	}{
		{"fresh", "", func(dir string) Config { c := base; c.Out = dir; return c },
			func(dir string) Config { c := base; c.Out, c.Continue = dir, true; return c }, want, whole.Out},
		{"resumed", stopped, func(dir string) Config { return resume(dir, 0) },
			func(dir string) Config { c := base; c.Out, c.Continue = dir, true; return c }, want, whole.Out},
		{"extended", finished, func(dir string) Config { return resume(dir, 3) },
			func(dir string) Config {
				if n, ok := runfolder.FinishedEpochs(dir); ok && n == 3 {
					return Config{} // finished: nothing to type
				}
				return resume(dir, 3)
			}, wantLonger, longer.Out},
	} {
		t.Run(sc.name, func(t *testing.T) {
			fresh := func() string {
				dir := filepath.Join(t.TempDir(), "run")
				if sc.from != "" {
					copyDir(t, sc.from, dir)
				}
				return dir
			}
			changes := killedAt(t, sc.run(fresh()), 0)
			if changes < 5 {
				t.Fatalf("only %d file changes in the run", changes)
			}
			for n := 1; n <= changes; n++ {
				dir := fresh()
				killedAt(t, sc.run(dir), n)
				next := sc.again(dir)
				var res *runfolder.Result
				var err error
				if next.Out == "" && next.Resume == "" {
					if res, err = runfolder.ReadResult(dir); err != nil {
						t.Fatal(err)
					}
				} else {
					var out bytes.Buffer
					if res, err = Run(context.Background(), next, &out); err != nil {
						t.Fatalf("killed before change %d of %d, then: %v\n%s", n, changes, err, out.String())
					}
				}
				sameRun(t, sc.want, res, sc.wantD, dir)
				for _, e := range mustReadDir(t, dir) {
					if strings.HasPrefix(e, ".") {
						t.Errorf("killed before change %d: %s left behind", n, e)
					}
				}
			}
		})
	}
}

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
