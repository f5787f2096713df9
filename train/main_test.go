package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/filetest"
	"github.com/tinydigits/tinydigits/torch"
)

// The train command, built and run as a user runs it.
func TestCommand(t *testing.T) {
	bin := buildTrain(t)
	runCmd := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}

	out, errOut, code := runCmd("-arch", "step3", "-dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	filetest.Contains(t, "dry run output", out, "8,442 parameters", "libtorch "+torch.Version(), "MD5 verified", "Total params: 8,442", "epoch  1/15", "dry run")
	// --flag=value and single-dash long names both work.
	if out, errOut, code := runCmd("--arch=step2", "-dry-run", "-quiet", "-epochs=3"); code != 0 || !strings.Contains(out, "8,582 parameters") || !strings.Contains(out, "3 epochs*") {
		t.Errorf("--arch=step2: exit %d\n%s%s", code, out, errOut)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-arch", "step9"}, "unknown arch \"step9\" (known: step1, step2, step3, tiny; or the path of an arch file)"},
		{[]string{"-epochs", "0", "-dry-run"}, "-epochs must be in [1, 100000]"},
		{[]string{"-batch-size", "-4"}, "-batch-size must be at least 1"},
		{[]string{"-rotate", "-2"}, "-rotate must be in"},
		{[]string{"-lr", "fast"}, "invalid argument"},
		{[]string{"-nonsense"}, "unknown flag: --nonsense"},
		{[]string{"-data", "/nonexistent"}, "/nonexistent"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		out, errOut, code := runCmd(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q (want exit 2 and one line with %q); stdout %q", tc.args, code, errOut, tc.want, out)
		}
	}
	if !torch.CUDAAvailable() {
		// The exact command, untagged: one line saying why, exit 2.
		_, errOut, code := runCmd("-arch", "step2", "-device", "cuda")
		if code != 2 || !strings.Contains(errOut, torch.CUDAUnavailableReason()) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("-device cuda without CUDA: exit %d, %q", code, errOut)
		}
	}
	out, _, code = runCmd("-h")
	if code != 0 || !strings.Contains(out, "--batch-size") || !strings.Contains(out, "step3 64") {
		t.Errorf("-h: exit %d\n%s", code, out)
	}
	// tiny's recipe peaks at 25% of the steps; step3's 0.3 must not show as everyone's default.
	if !strings.Contains(out, "step3 0.3, tiny 0.25)\n") {
		t.Errorf("-h: -pct-start does not give the arch's recipe:\n%s", out)
	}
	if _, err := os.Stat("runs"); err == nil {
		t.Error("a test run wrote runs/ into the source tree")
	}
}

// buildTrain compiles the train command into a temporary folder.
func buildTrain(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "train")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startUntilEpoch starts the command and returns once it has printed the
// line of its first finished epoch.
func startUntilEpoch(t *testing.T, cmd *exec.Cmd) *bytes.Buffer {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "epoch  1/") {
			go io.Copy(io.Discard, stdout)
			return &stderr
		}
	}
	cmd.Wait()
	t.Fatalf("no epoch line; stderr:\n%s", stderr.String())
	return nil
}

// SIGINT stops at a batch boundary, keeps the finished epochs, says how to
// resume and exits with 130; the run then resumes to its end. A second
// SIGINT quits at once.
func TestInterruptAndResume(t *testing.T) {
	bin := buildTrain(t)
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(bin, "-arch", "step3", "-subset", "1280", "-epochs", "40", "-threads", "2", "-quiet", "-out", dir)
	stderr := startUntilEpoch(t, cmd)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d (%v), want 130; stderr:\n%s", code, err, stderr)
	}
	if !strings.Contains(stderr.String(), "resume with: go run ./train -resume "+dir) {
		t.Errorf("stderr:\n%s", stderr)
	}
	for _, f := range []string{"checkpoint.pt", "metrics.csv", "curves.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("after SIGINT: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil {
		t.Error("an interrupted run wrote summary.json")
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "metrics.csv"))
	done := strings.Count(string(csv), "\n") - 1
	if done < 1 || done >= 40 {
		t.Fatalf("metrics.csv holds %d epochs", done)
	}

	resume := exec.Command(bin, "-resume", dir, "-epochs", strconv.Itoa(done+1), "-quiet")
	if out, err := resume.CombinedOutput(); err != nil || !strings.Contains(string(out), "resuming "+dir) {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err != nil {
		t.Errorf("resumed run: %v", err)
	}

	// A second SIGINT while the first one's stop is under way (finishing the
	// batch, drawing the pictures) quits at once.
	again := exec.Command(bin, "-arch", "step1", "-subset", "1280", "-epochs", "40", "-quiet", "-out", filepath.Join(t.TempDir(), "again"))
	stdout, _ := again.StdoutPipe()
	errPipe, _ := again.StderrPipe()
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Well into training (its Ctrl-C handling in place, however slowly a
	// busy machine started it): after the first epoch's line.
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "epoch  1/") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	again.Process.Signal(os.Interrupt)
	var said []string
	for l := range lines {
		said = append(said, l)
		if strings.Contains(l, "stopping after this batch") {
			again.Process.Signal(os.Interrupt)
		}
	}
	again.Wait()
	all := strings.Join(said, "\n")
	if code := again.ProcessState.ExitCode(); code != 130 || !strings.Contains(all, "train: quit") || strings.Contains(all, "resume with") {
		t.Errorf("two SIGINTs: exit %d; stderr:\n%s", code, all)
	}
}

// One writer per run folder, between processes: while a run trains, a
// second train into its folder, a -resume and an -overwrite are each
// refused in one line naming the process, exit 2, nothing removed; -eval
// still reads. Killed outright, the run leaves no stale lock: -resume
// then finishes it.
func TestOneWriterPerRunFolder(t *testing.T) {
	bin := buildTrain(t)
	dir := filepath.Join(t.TempDir(), "run")
	live := exec.Command(bin, "-arch", "step3", "-subset", "1280", "-epochs", "40", "-threads", "1", "-quiet", "-out", dir)
	startUntilEpoch(t, live)
	defer live.Process.Kill()
	holder := fmt.Sprintf("%s is in use by pid %d: train -arch step3", dir, live.Process.Pid)
	for _, args := range [][]string{
		{"-arch", "step3", "-quiet", "-out", dir},
		{"-resume", dir, "-quiet"},
		{"-arch", "step3", "-quiet", "-out", dir, "-overwrite"},
		{"-arch", "step3", "-quiet", "-out", dir, "-continue"},
	} {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Run()
		msg := strings.TrimSpace(stderr.String())
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(msg, holder) || strings.Contains(msg, "\n") {
			t.Errorf("%v beside a live run: exit %d, stderr %q; want exit 2 and one line with %q", args, code, msg, holder)
		}
		if _, err := os.Stat(filepath.Join(dir, "checkpoint.pt")); err != nil {
			t.Fatalf("%v beside a live run: %v", args, err)
		}
	}
	if out, err := exec.Command(bin, "-eval", filepath.Join(dir, "checkpoint.pt")).CombinedOutput(); err != nil || !strings.Contains(string(out), "accuracy") {
		t.Errorf("-eval beside a live run: %v\n%s", err, out)
	}

	live.Process.Kill()
	live.Wait()
	csv, _ := os.ReadFile(filepath.Join(dir, "metrics.csv"))
	done := strings.Count(string(csv), "\n") - 1
	resume := exec.Command(bin, "-resume", dir, "-epochs", strconv.Itoa(done+1), "-quiet")
	if out, err := resume.CombinedOutput(); err != nil {
		t.Errorf("-resume after SIGKILL: %v\n%s", err, out)
	}
}
