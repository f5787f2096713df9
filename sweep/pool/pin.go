package pool

import (
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// cpuSlots gives each of jobs runs its own threads CPUs from those this
// process may use, or nil when they do not fit (then the runs are not
// pinned and the system places them). Pinned one-thread runs side by side
// were 6-8% faster on the 2-core development machine than unpinned ones
// (BENCHMARKS.md, "Sweeps"): each run's Go and libtorch threads stay on
// its core, with its caches.
func cpuSlots(jobs, threads int) [][]int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if jobs < 1 || threads < 1 || jobs*threads > len(cpus) {
		return nil
	}
	slots := make([][]int, jobs)
	for k := range slots {
		slots[k] = cpus[k*threads : (k+1)*threads]
	}
	return slots
}

// startOn starts cmd with its threads allowed on cpus only (all CPUs when
// cpus is empty). The child inherits the affinity of the thread that forks
// it: a locked thread is given the CPUs, forks, and is then discarded (a
// goroutine that ends locked takes its thread with it), so the sweep's own
// threads keep every CPU.
func startOn(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
		var set unix.CPUSet
		for _, c := range cpus {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			done <- cmd.Start() // unpinned rather than not at all
			return
		}
		done <- cmd.Start()
	}()
	return <-done
}
