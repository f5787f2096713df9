package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// The memory a run may use is the least of MemAvailable and the room left
// under each cgroup limit from the process's own cgroup up: a Slurm job's
// limit sits on the job, above the step the process runs in. Both cgroup
// versions; the numbers are chosen by hand.
func TestAvailableMemoryFromCgroups(t *testing.T) {
	write := func(path, text string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	meminfo := filepath.Join(dir, "meminfo")
	write(meminfo, "MemTotal:       24683520 kB\nMemAvailable:   20480000 kB\n") // 20,000 MiB

	// cgroup v2: the root unlimited, the job 3,000 MiB with 1,000 used, the
	// step below it unlimited.
	v2 := filepath.Join(dir, "v2")
	write(filepath.Join(v2, "memory.max"), "max\n")
	write(filepath.Join(v2, "memory.current"), "5000000000\n")
	job := filepath.Join(v2, "system.slice", "slurmstepd.scope", "job_7")
	write(filepath.Join(job, "memory.max"), "3145728000\n")
	write(filepath.Join(job, "memory.current"), "1048576000\n")
	write(filepath.Join(job, "step_0", "memory.max"), "max\n")
	write(filepath.Join(job, "step_0", "memory.current"), "1048576000\n")
	self := filepath.Join(dir, "self-v2")
	write(self, "0::/system.slice/slurmstepd.scope/job_7/step_0\n")
	if got := availableIn(meminfo, v2, self); got != 2000 {
		t.Errorf("cgroup v2 job limit: %v MiB, want 2000", got)
	}

	// cgroup v1: the memory controller's own hierarchy, 6,000 MiB limit,
	// 1,500 used.
	v1 := filepath.Join(dir, "v1")
	cg := filepath.Join(v1, "memory", "slurm", "uid_0", "job_8")
	write(filepath.Join(cg, "memory.limit_in_bytes"), "6291456000\n")
	write(filepath.Join(cg, "memory.usage_in_bytes"), "1572864000\n")
	self = filepath.Join(dir, "self-v1")
	write(self, "9:pids:/slurm/uid_0/job_8\n4:memory:/slurm/uid_0/job_8\n0::/\n")
	if got := availableIn(meminfo, v1, self); got != 4500 {
		t.Errorf("cgroup v1 job limit: %v MiB, want 4500", got)
	}

	// No limits: MemAvailable.
	if got := availableIn(meminfo, filepath.Join(dir, "none"), filepath.Join(dir, "missing")); got != 20000 {
		t.Errorf("no cgroup: %v MiB, want 20000", got)
	}
}
