package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/slurm"
)

// The sweep as a Slurm job array on a real one-node cluster
// (scripts/slurm-cluster.sh: Debian's slurm-wlm and munge, installed where
// missing): four array tasks train four short runs into the sweep folder,
// -report collects them, and they equal the same runs trained by the pool.
func TestSlurmArray(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Slurm cluster and trains 8 short runs")
	}
	env := startCluster(t)

	args := []string{"-arch", "tiny", "-seeds", "1-4", "-set", "subset=1000", "-set", "epochs=1", "-set", "test-batch-size=1000", "-threads", "1"}
	sw := filepath.Join(t.TempDir(), "array")
	stdout, stderr, code := runSweep(t, env, append(args, "-out", sw, "-slurm")...)
	if code != 0 {
		t.Fatalf("-slurm: exit %d\n%s%s", code, stdout, stderr)
	}
	script := filepath.Join(sw, slurm.Folder, slurm.ScriptFile)
	if text := readFile(script); !strings.Contains(text, "#SBATCH --array=1-4\n") || !strings.Contains(text, "#SBATCH --cpus-per-task=1\n") {
		t.Errorf("script:\n%s", text)
	}
	// The tasks find MNIST in the sweep folder, not in a module cache:
	// submitted from an environment where no Go module cache can be found
	// (sbatch passes it on to the tasks), they still train.
	data := filepath.Join(sw, slurm.Folder, slurm.DataFolder)
	if files, _ := filepath.Glob(filepath.Join(data, "*-ubyte*")); len(files) != 4 {
		t.Errorf("%s holds %v, want the four MNIST files", data, files)
	}
	none := filepath.Join(t.TempDir(), "none")
	submit := exec.Command("sbatch", script)
	submit.Env = append(os.Environ(), append(env, "GOMODCACHE="+none, "GOPATH="+none, "HOME="+none, "TINYDIGITS_DATA=")...)
	sub, err := submit.CombinedOutput()
	m := regexp.MustCompile(`Submitted batch job (\d+)`).FindStringSubmatch(string(sub))
	if err != nil || m == nil {
		t.Fatalf("sbatch: %v\n%s", err, sub)
	}
	deadline := time.Now().Add(8 * time.Minute)
	for {
		cmd := exec.Command("squeue", "-h", "-j", m[1])
		cmd.Env = append(os.Environ(), env...)
		q, err := cmd.CombinedOutput()
		if err == nil && strings.TrimSpace(string(q)) == "" || strings.Contains(string(q), "Invalid job id") {
			break // finished (and, after MinJobAge, forgotten)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still queued or running after 8 minutes: %s %v", m[1], q, err)
		}
		time.Sleep(time.Second)
	}
	for task := 1; task <= 4; task++ {
		log := readFile(filepath.Join(sw, slurm.Folder, fmt.Sprintf("%s_%d.out", m[1], task)))
		if !strings.Contains(log, fmt.Sprintf("== task %d on ", task)) || !strings.Contains(log, "data: "+data) || !runfolder.Finished(filepath.Join(sw, "tiny", fmt.Sprintf("seed%d", task))) {
			t.Errorf("task %d did not finish its run:\n%s", task, log)
		}
	}
	stdout, stderr, code = runSweep(t, nil, "-report", sw)
	if code != 0 || !strings.Contains(stdout, "1 configurations, 4 runs (4 finished, 0 unfinished)") {
		t.Fatalf("-report: exit %d\n%s%s", code, stdout, stderr)
	}

	// The same runs from the pool: the same table.
	local := filepath.Join(t.TempDir(), "local")
	if stdout, stderr, code := runSweep(t, nil, append(args, "-out", local, "-jobs", "2")...); code != 0 {
		t.Fatalf("pool: exit %d\n%s%s", code, stdout, stderr)
	}
	if got, want := table(t, sw), table(t, local); got != want {
		t.Errorf("the array's table differs from the pool's:\n%s\nwant:\n%s", got, want)
	}
	// Submitting the array again skips the finished runs.
	stdout, stderr, code = runSweep(t, env, "-task", "2", sw)
	if code != 0 || !strings.Contains(stdout, "is finished") {
		t.Errorf("-task 2 again: exit %d\n%s%s", code, stdout, stderr)
	}
}

// startCluster starts the one-node Slurm cluster of scripts/slurm-cluster.sh
// for the test, stopped when it ends, and returns the environment that
// reaches it; it skips the test, saying why, where no cluster can start.
func startCluster(t *testing.T) []string {
	t.Helper()
	sweepBin(t) // built before the cluster starts
	cluster := t.TempDir()
	start := exec.Command("bash", filepath.Join("..", "scripts", "slurm-cluster.sh"), "start", cluster)
	start.Env = append(os.Environ(), fmt.Sprintf("SLURM_CLUSTER_PORT=%d", 20000+2*rand.IntN(4000)))
	var errOut bytes.Buffer
	start.Stderr = &errOut
	out, err := start.Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 3:
		t.Skipf("no Slurm cluster here: %s", strings.TrimSpace(errOut.String()))
	case err != nil:
		t.Fatalf("slurm-cluster.sh start: %v\n%s%s", err, out, errOut.String())
	}
	t.Cleanup(func() {
		if out, err := exec.Command("bash", filepath.Join("..", "scripts", "slurm-cluster.sh"), "stop", cluster).CombinedOutput(); err != nil {
			t.Errorf("slurm-cluster.sh stop: %v\n%s", err, out)
		}
	})
	return []string{"SLURM_CONF=" + filepath.Join(cluster, "slurm.conf")}
}
