// Package pool runs a sweep's runs: each is an ordinary train run in its
// own process, -jobs at a time with -threads each, watched through the
// events the run reports, stopped together at a batch boundary on a signal
// and resumed from their checkpoints when the sweep runs again.
package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/grid"
	"github.com/tinydigits/tinydigits/train/cli"
)

// RunFile is the file in each run's folder that records the train flags
// the sweep gave it, so that running a sweep again knows the folder holds
// this run and not another one.
const RunFile = "sweep-run.json"

// LogFile is the train command's output in each run's folder.
const LogFile = "train.log"

// record is RunFile's content.
type record struct {
	Args    []string `json:"args"`
	Threads int      `json:"threads"`
	Device  string   `json:"device"`
}

// State is where a run stands before the sweep starts it.
type State int

// The states of a run's folder.
const (
	Fresh    State = iota // nothing yet: train from the start
	Resume                // an unfinished run: -resume from its checkpoint
	Finished              // summary.json is there: nothing to do
)

func (s State) String() string {
	return [...]string{"new", "resume", "finished"}[s]
}

// Plan is how a run will be started: its state, the train flags and the
// libtorch threads it will use.
type Plan struct {
	State   State
	Args    []string // for train; empty when Finished
	Threads int      // a new run's -threads; a resumed run keeps those it started with
}

// Prepare decides how to start run r in the sweep folder dir, with threads
// and device for a new run (a resumed run keeps its own, as train -resume
// does). A folder that holds a run with other settings is an error: the
// sweep would otherwise mix two experiments in one table.
func Prepare(dir string, r grid.Run, threads int, device string) (Plan, error) {
	runDir := filepath.Join(dir, r.Dir)
	rec, err := checkRecord(runDir, r)
	if err != nil {
		return Plan{}, err
	}
	if runfolder.Finished(runDir) {
		return Plan{State: Finished}, nil
	}
	if _, err := os.Stat(filepath.Join(runDir, runfolder.CheckpointFile)); err == nil {
		own := threads
		if rec != nil && rec.Threads > 0 {
			own = rec.Threads
		}
		return Plan{State: Resume, Args: []string{"-resume", runDir, "-quiet"}, Threads: own}, nil
	}
	args := slices.Concat(r.Args, []string{"-out", runDir, "-threads", strconv.Itoa(threads), "-device", device, "-quiet"})
	return Plan{State: Fresh, Args: args, Threads: threads}, nil
}

// Record writes RunFile for a run about to start for the first time.
func Record(dir string, r grid.Run, threads int, device string) error {
	runDir := filepath.Join(dir, r.Dir)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(record{Args: r.Args, Threads: threads, Device: device}, "", "  ")
	return atomicfile.Write(filepath.Join(runDir, RunFile), append(data, '\n'))
}

// checkRecord refuses a run folder whose RunFile names other flags, or
// that holds a run without a RunFile (a train run, not the sweep's); it
// returns the folder's record, nil where there is none yet.
func checkRecord(runDir string, r grid.Run) (*record, error) {
	data, err := os.ReadFile(filepath.Join(runDir, RunFile))
	if errors.Is(err, os.ErrNotExist) {
		if exists(filepath.Join(runDir, runfolder.SummaryFile)) || exists(filepath.Join(runDir, runfolder.CheckpointFile)) {
			return nil, fmt.Errorf("%s holds a run the sweep did not start (no %s); move it away or use another -out", runDir, RunFile)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(runDir, RunFile), err)
	}
	if !sameRun(rec.Args, r.Args) {
		return nil, fmt.Errorf("%s holds a run with other settings (%q, not %q); use another -out for a different sweep", runDir, rec.Args, r.Args)
	}
	return &rec, nil
}

// sameRun reports whether two train command lines describe the same run:
// the same arguments, or ones that parse to the same configuration
// ("-lr 0.05" and "-lr=0.05").
func sameRun(a, b []string) bool {
	if slices.Equal(a, b) {
		return true
	}
	ca, errA := cli.Parse(a)
	cb, errB := cli.Parse(b)
	return errA == nil && errB == nil && reflect.DeepEqual(ca, cb)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
