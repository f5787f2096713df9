// Package scripts holds the project's shell scripts; its test runs the step
// scripts as a user runs them.
package scripts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/runfolder"
)

// short makes each step one short epoch: 640 training images, 500 held
// out for validation, one thread.
var short = []string{"-subset", "640", "-holdout", "500", "-test-batch-size", "500", "-epochs", "1", "-threads", "1"}

// script runs scripts/NAME with args, its runs under runs, and returns
// its output and exit status.
func script(t *testing.T, runs string, env []string, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{name}, args...)...)
	cmd.Env = append(append(os.Environ(), "TINYDIGITS_RUNS="+runs), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func finishedAt(t *testing.T, dir string) string {
	t.Helper()
	r, err := runfolder.ReadResult(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r.FinishedAtUTC
}

// The step scripts can be run again: step3.sh twice, then reproduce.sh,
// trains step3 once and ends with RESULTS.md; other arguments are named
// and the finished run kept; -overwrite retrains. A failed set-up stops a
// script at once with the installer's line.
func TestStepScriptsRunAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds train and trains four short runs through the scripts")
	}
	runs := t.TempDir()

	_, errOut, code := script(t, runs, []string{"LIBTORCH=" + filepath.Join(runs, "no-libtorch")}, "step3.sh", short...)
	if code != 2 || !strings.Contains(errOut, "install-libtorch: error: LIBTORCH=") || strings.Contains(errOut, "cgo") || strings.Contains(errOut, "go build") {
		t.Errorf("set-up failing: exit %d, stderr:\n%s", code, errOut)
	}

	out, errOut, code := script(t, runs, nil, "step3.sh", short...)
	step3 := filepath.Join(runs, "step3")
	if code != 0 || !strings.Contains(out, "8,442 parameters") || !runfolder.Finished(step3) {
		t.Fatalf("step3.sh: exit %d\n%s%s", code, out, errOut)
	}
	trained := finishedAt(t, step3)

	out, errOut, code = script(t, runs, nil, "step3.sh", short...)
	if code != 0 || !strings.Contains(out, step3+": finished, kept: best validation accuracy") || strings.Contains(out, "epoch  1/1") {
		t.Errorf("step3.sh again: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = script(t, runs, nil, "reproduce.sh", short...)
	if code != 0 {
		t.Fatalf("reproduce.sh: exit %d\n%s%s", code, out, errOut)
	}
	for _, arch := range []string{"step1", "step2"} {
		if !runfolder.Finished(filepath.Join(runs, arch)) {
			t.Errorf("reproduce.sh did not train %s:\n%s", arch, out)
		}
	}
	if !strings.Contains(out, step3+": finished, kept") || finishedAt(t, step3) != trained {
		t.Errorf("reproduce.sh trained step3 again:\n%s", out)
	}
	results, err := os.ReadFile(filepath.Join(runs, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"| step1 | 40,202 |", "| step2 | 8,582 |", "| step3 | 8,442 |"} {
		if !strings.Contains(string(results), row) {
			t.Errorf("RESULTS.md lacks %q:\n%s", row, results)
		}
	}

	// Other arguments: one line names them; the finished run stays.
	out, _, code = script(t, runs, nil, "step3.sh", append(short, "-seed", "2")...)
	if code != 0 || !strings.Contains(out, "-seed 2 (the run: 1)") || finishedAt(t, step3) != trained {
		t.Errorf("step3.sh -seed 2: exit %d\n%s", code, out)
	}
	out, _, code = script(t, runs, nil, "step3.sh", append(short, "-seed", "2", "-overwrite")...)
	if code != 0 || finishedAt(t, step3) == trained {
		t.Errorf("step3.sh -overwrite did not retrain: exit %d\n%s", code, out)
	}
}
