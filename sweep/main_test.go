package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/report"
	"github.com/tinydigits/tinydigits/torch"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// sweepBin compiles the sweep command once for the package's tests.
func sweepBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sweep-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sweep")
		buildOut, buildErr = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// runSweep runs the command to its end.
func runSweep(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(sweepBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// wallTimes matches the columns that differ from one run to the next.
var wallTimes = regexp.MustCompile(`\d+\.\d min|Written [^.]*\.`)

// table is SWEEP.md without its wall times and date.
func table(t *testing.T, dir string) string {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(dir, report.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	s := wallTimes.ReplaceAllString(string(md), "…")
	return strings.ReplaceAll(s, "# Sweep "+filepath.Base(dir), "# Sweep")
}

// A sweep stopped with Ctrl-C (SIGINT) while its runs train, then run again
// with the same command, ends with the table of a sweep that never stopped.
func TestInterruptedSweepResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 8 short runs")
	}
	args := func(out string) []string {
		return []string{"-arch", "tiny", "-seeds", "1-2", "-set", "lr=0.05,0.1", "-set", "subset=1500", "-set", "epochs=4",
			"-set", "test-batch-size=1000", "-jobs", "2", "-threads", "1", "-out", out}
	}
	whole := filepath.Join(t.TempDir(), "whole")
	if out, errOut, code := runSweep(t, nil, args(whole)...); code != 0 {
		t.Fatalf("sweep: exit %d\n%s%s", code, out, errOut)
	}

	stopped := filepath.Join(t.TempDir(), "stopped")
	cmd := exec.Command(sweepBin(t), args(stopped)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for !strings.Contains(readFile(filepath.Join(stopped, "sweep.log")), what) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no %q in the log in 3 minutes:\n%s", what, readFile(filepath.Join(stopped, "sweep.log")))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// A second sweep in the same folder meanwhile is refused.
	waitFor("started (new)")
	if _, errOut, code := runSweep(t, nil, args(stopped)...); code != 2 || !strings.Contains(errOut, "another sweep is running in") {
		t.Errorf("a second sweep: exit %d, %s", code, errOut)
	}
	// Stop once a run has finished its first epoch (the log says so).
	waitFor("epoch 1/4")
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("stopped sweep: %v, want exit 130\n%s%s", err, o.String(), e.String())
	}
	if !strings.Contains(e.String(), "run the same command again to go on") {
		t.Errorf("stopped sweep's stderr: %s", e.String())
	}
	unfinished := 0
	filepath.Walk(stopped, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() && strings.HasPrefix(info.Name(), "seed") && !runfolder.Finished(p) {
			unfinished++
		}
		return nil
	})
	if unfinished == 0 {
		t.Fatalf("the signal stopped nothing:\n%s", o.String())
	}
	out, errOut, code := runSweep(t, nil, args(stopped)...)
	if code != 0 {
		t.Fatalf("resumed sweep: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "resume") {
		t.Errorf("the second sweep resumed nothing:\n%s", out)
	}
	if got, want := table(t, stopped), table(t, whole); got != want {
		t.Errorf("the resumed sweep's table differs from the uninterrupted one's:\n%s\nwant:\n%s", got, want)
	}
	// Once finished, the same command runs nothing and rewrites the same table.
	out, _, code = runSweep(t, nil, args(stopped)...)
	if code != 0 || !strings.Contains(out, "0 to run (4 finished before)") || table(t, stopped) != table(t, whole) {
		t.Errorf("third sweep: exit %d\n%s", code, out)
	}
}

func readFile(p string) string {
	data, _ := os.ReadFile(p)
	return string(data)
}

// A run that fails is reported and the others finish.
func TestFailedRunDoesNotStopTheOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a run")
	}
	dir := filepath.Join(t.TempDir(), "sw")
	// 1,000 training images: batch 2048 is refused when the run loads them.
	out, errOut, code := runSweep(t, nil, "-arch", "tiny", "-set", "subset=1000", "-set", "batch-size=32,2048", "-set", "epochs=1",
		"-set", "test-batch-size=1000", "-jobs", "1", "-threads", "1", "-out", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "1 of 2 runs failed") || !strings.Contains(errOut, "-batch-size 2048 is larger than the 1,000 training images") {
		t.Errorf("stderr: %s", errOut)
	}
	if !runfolder.Finished(filepath.Join(dir, "tiny,batch-size=32", "seed1")) {
		t.Errorf("the good run did not finish:\n%s", out)
	}
	if !strings.Contains(readFile(filepath.Join(dir, report.MarkdownFile)), "| tiny,batch-size=32 | 3,897 | 1 |") {
		t.Errorf("SWEEP.md lacks the finished run")
	}
}

// Bad flags and files get one line and exit status 2, before any run.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-arch", "tiny", "-set", "out=x"}, "-set out: not a sweep setting"},
		{[]string{"-arch", "tiny", "-seeds", "3-1"}, "not a range"},
		{[]string{"-arch", "tiny", "-jobs", "-1"}, "-jobs must be in"},
		{[]string{"-arch", "tiny", "-threads", "5000"}, "-threads must be in"},
		{[]string{"-arch", "tiny", "-set", "nosuch=1"}, "unknown flag: --nosuch"},
		{[]string{"-arch", "tiny", "-set", "lr=0.1,abc"}, `invalid argument "abc"`},
		{[]string{"-arch", "tiny", "-set", "lr=0.1", "-set", "lr=0.2"}, "-set lr is given twice"},
		{[]string{"-arch", "nosuch"}, "nosuch"},
		{[]string{"-arch", "tiny", "-device", "tpu"}, "-device"},
		{[]string{"-file", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"-report", filepath.Join(dir, "missing")}, "missing"},
		{[]string{"-arch", "tiny", "-submit"}, "-submit goes with -slurm"},
		{[]string{"-arch", "tiny", "extra"}, `unexpected argument "extra"`},
		{[]string{"-task", "1"}, "-task N takes the sweep folder"},
		{[]string{"-task", "1", dir}, "runs.jsonl"},
		{[]string{"-nosuch"}, "unknown flag"},
	}
	if !torch.CUDAAvailable() {
		cases = append(cases, struct {
			args []string
			want string
		}{[]string{"-arch", "tiny", "-device", "cuda"}, "CUDA is not available"})
	}
	for _, tc := range cases {
		out, errOut, code := runSweep(t, nil, append(tc.args, "-out", filepath.Join(dir, "sw"))...)
		msg := strings.TrimSpace(errOut)
		if code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want exit 2 and one line with %q\n%s", tc.args, code, msg, tc.want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sw")); !os.IsNotExist(err) {
		t.Errorf("a refused sweep made its folder: %v", err)
	}

	// A GPU array is written from a machine without a GPU (a login node):
	// each task checks its device where it runs; auto stays auto.
	for _, device := range []string{"cuda", "auto"} {
		sw := filepath.Join(dir, "array-"+device)
		if out, errOut, code := runSweep(t, nil, "-arch", "tiny", "-set", "epochs=1", "-device", device, "-out", sw, "-slurm"); code != 0 {
			t.Fatalf("-slurm -device %s: exit %d\n%s%s", device, code, out, errOut)
		}
		script, runs := readFile(filepath.Join(sw, "slurm", "sweep.sbatch")), readFile(filepath.Join(sw, "slurm", "runs.jsonl"))
		if gres := strings.Contains(script, "--gres=gpu:1"); gres != (device == "cuda") || !strings.Contains(runs, `"device":"`+device+`"`) {
			t.Errorf("-slurm -device %s: script\n%s\nruns\n%s", device, script, runs)
		}
	}

	// A folder holding a sweep with other settings is refused, run by run.
	sw := filepath.Join(dir, "other")
	if out, errOut, code := runSweep(t, nil, "-arch", "tiny", "-set", "epochs=1", "-out", sw, "-slurm"); code != 0 {
		t.Fatalf("-slurm: exit %d\n%s%s", code, out, errOut)
	}
	os.MkdirAll(filepath.Join(sw, "tiny", "seed1"), 0o755)
	os.WriteFile(filepath.Join(sw, "tiny", "seed1", "sweep-run.json"), []byte(`{"args": ["-arch", "tiny", "-epochs", "1", "-seed", "1"]}`), 0o644)
	_, errOut, code := runSweep(t, nil, "-arch", "tiny", "-set", "epochs=2", "-out", sw, "-dry-run")
	if code != 2 || !strings.Contains(errOut, "holds a run with other settings") {
		t.Errorf("other settings: exit %d, %s", code, errOut)
	}
	out, errOut, code := runSweep(t, nil, "-arch", "tiny", "-set", "epochs=1", "-out", sw, "-dry-run")
	if code != 0 || !strings.Contains(out, "tiny/seed1") {
		t.Errorf("same settings: exit %d\n%s%s", code, out, errOut)
	}
}

// -h prints the usage, exit 0; the dry run lists the runs and the pool.
func TestHelpAndDryRun(t *testing.T) {
	out, _, code := runSweep(t, nil, "-h")
	if code != 0 || !strings.Contains(out, "-jobs") || !strings.Contains(out, "-slurm") {
		t.Errorf("-h: exit %d\n%s", code, out)
	}
	out, errOut, code := runSweep(t, nil, "-arch", "tiny,step3", "-seeds", "1-2", "-set", "lr=0.05,0.1", "-jobs", "2", "-out", filepath.Join(t.TempDir(), "sw"), "-dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	lines := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), " new ") {
			lines++
		}
	}
	if lines != 8 || !strings.Contains(out, "8 runs, 2 at a time, 1 thread each") || !strings.Contains(out, "step3,lr=0.1/seed2") {
		t.Errorf("dry run lists %d new runs:\n%s", lines, out)
	}
}

// A sweep killed outright (SIGKILL, no chance to pass a signal on) does not
// leave its runs training unwatched: each notices that the sweep is gone,
// stops at a batch boundary with its checkpoint, and the next sweep
// resumes it.
func TestKilledSweepStopsItsRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a run")
	}
	dir := filepath.Join(t.TempDir(), "killed")
	args := []string{"-arch", "tiny", "-set", "subset=3000", "-set", "epochs=3", "-set", "test-batch-size=1000", "-jobs", "1", "-threads", "1", "-out", dir}
	cmd := exec.Command(sweepBin(t), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(readFile(filepath.Join(dir, "sweep.log")), "epoch 1/3") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no epoch in 3 minutes:\n%s", readFile(filepath.Join(dir, "sweep.log")))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The next sweep, started at once: the killed sweep's run may still be
	// training until it notices; the new sweep waits for its folder, and
	// resumes it once the run has stopped with its checkpoint.
	runDir := filepath.Join(dir, "tiny", "seed1")
	out, errOut, code := runSweep(t, nil, args...)
	if code != 0 || !strings.Contains(out, "started (resume)") || !runfolder.Finished(runDir) {
		t.Errorf("the next sweep: exit %d\n%s%s", code, out, errOut)
	}
	log := readFile(filepath.Join(runDir, "train.log"))
	if !strings.Contains(log, "stopping after this batch") || strings.Count(log, "train: ") != 2 {
		t.Errorf("the killed sweep's run did not stop as on Ctrl-C, once, before the next sweep resumed it:\n%s", log)
	}
	t.Logf("the next sweep:\n%s", out)
}

// A damaged summary.json does not break the sweep: the report lists the
// run as unreadable, naming the file, and reports the others; the sweep
// run again finishes that run anew from its checkpoint, to the same table.
func TestDamagedSummary(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two runs")
	}
	dir := filepath.Join(t.TempDir(), "damaged")
	args := []string{"-arch", "tiny", "-seeds", "1-2", "-set", "subset=1000", "-set", "epochs=1", "-set", "test-batch-size=1000", "-out", dir}
	if out, errOut, code := runSweep(t, nil, args...); code != 0 {
		t.Fatalf("sweep: exit %d\n%s%s", code, out, errOut)
	}
	want := table(t, dir)
	summary := filepath.Join(dir, "tiny", "seed2", "summary.json")
	if err := os.Truncate(summary, 100); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runSweep(t, nil, "-report", dir)
	if code != 0 || !strings.Contains(out, "1 unreadable") || !strings.Contains(out, filepath.Join("tiny", "seed2", "summary.json")+": unexpected end of JSON input") {
		t.Errorf("-report: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runSweep(t, nil, args...)
	if code != 0 || !strings.Contains(out, "started (resume)") {
		t.Fatalf("the sweep again: exit %d\n%s%s", code, out, errOut)
	}
	if got := table(t, dir); got != want {
		t.Errorf("after finishing the damaged run again:\n%s\nwant:\n%s", got, want)
	}
}

// Two sweeps side by side pin their runs to different cores: a core that
// a pinned run holds is not given to another sweep's run.
func TestTwoSweepsPinApart(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two runs")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU")
	}
	bin := sweepBin(t)
	// The two sweeps share a claims folder of their own, apart from any
	// other sweep on this machine, whose runs may hold cores meanwhile.
	claims := "TMPDIR=" + t.TempDir()
	var dirs [2]string
	var cmds [2]*exec.Cmd
	for i := range cmds {
		dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("side%d", i))
		cmds[i] = exec.Command(bin, "-arch", "tiny", "-set", "subset=6000", "-set", "epochs=2", "-set", "test-batch-size=1000",
			"-jobs", "1", "-threads", "1", "-out", dirs[i])
		cmds[i].Env = append(os.Environ(), claims)
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
		defer cmds[i].Process.Kill()
	}
	// Each run's allowed CPUs, read from /proc while both train.
	allowed := func(dir string) string {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			if strings.Contains(readFile(p), filepath.Join(dir, "tiny", "seed1")) && strings.Contains(readFile(p), "train") {
				for _, line := range strings.Split(readFile(filepath.Join(filepath.Dir(p), "status")), "\n") {
					if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
						return strings.TrimSpace(v)
					}
				}
			}
		}
		return ""
	}
	deadline := time.Now().Add(3 * time.Minute)
	var got [2]string
	for got[0] == "" || got[1] == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the two runs were not seen training together: %q", got)
		}
		for i := range got {
			got[i] = allowed(dirs[i])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got[0] == got[1] {
		t.Errorf("both sweeps pinned their run to CPUs %s", got[0])
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("sweep %d: %v", i+1, err)
		}
	}
	t.Logf("runs pinned to CPUs %s and %s", got[0], got[1])
}
