package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/torch"
)

func TestLongDashes(t *testing.T) {
	c := helpConfig()
	fs := newOptions(&c, new(string)).fs
	got := longDashes([]string{"-arch", "step2", "-lr=0.05", "--epochs", "3", "-h", "-gamma", "-0.5", "--", "-arch"}, fs)
	// Long names gain a dash; -h, negative numbers and what follows "--" stay.
	want := []string{"--arch", "step2", "--lr=0.05", "--epochs", "3", "-h", "--gamma", "-0.5", "--", "-arch"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// The train command, built and run as a user runs it.
func TestCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "train")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
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
	for _, want := range []string{"8,442 parameters", "libtorch " + torch.Version(), "MD5 verified", "Total params: 8,442", "epoch  1/15", "dry run"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	// --flag=value and single-dash long names both work.
	if out, errOut, code := runCmd("--arch=step2", "-dry-run", "-quiet", "-epochs=3"); code != 0 || !strings.Contains(out, "8,582 parameters") || !strings.Contains(out, "3 epochs*") {
		t.Errorf("--arch=step2: exit %d\n%s%s", code, out, errOut)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-arch", "step9"}, "unknown arch \"step9\" (known: step1, step2, step3)"},
		{[]string{"-epochs", "0", "-dry-run"}, "-epochs must be at least 1"},
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
		_, errOut, code := runCmd("-arch", "step2", "-device", "cuda")
		if code != 2 || !strings.Contains(errOut, "Dockerfile.cuda") {
			t.Errorf("-device cuda without CUDA: exit %d, %q", code, errOut)
		}
	}
	out, _, code = runCmd("-h")
	if code != 0 || !strings.Contains(out, "--batch-size") || !strings.Contains(out, "step3 64") {
		t.Errorf("-h: exit %d\n%s", code, out)
	}
	if _, err := os.Stat("runs"); err == nil {
		t.Error("a test run wrote runs/ into the source tree")
	}
}
