package pool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/tinydigits/tinydigits/internal/lockfile"
)

// Pinned one-thread runs side by side were 6-8% faster on the 2-core
// development machine than unpinned ones (BENCHMARKS.md, "Sweeps"): each
// run's Go and libtorch threads stay on their core, with its caches. But a
// core that two pinned runs share runs each at half speed, where the
// system would have moved one elsewhere; so a run is pinned only to cores
// that no other pinned run holds, whichever sweep started it.

// claimDir is where pinned runs claim their CPUs: one lock file per CPU,
// held by the sweep process while the run it pinned there lasts. The
// kernel releases a claim when its sweep dies, so a CPU is never lost.
var claimDir = func() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("tinydigits-cpus-%d", os.Getuid()))
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() []int {
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
	return cpus
}

// claimCPUs claims n of the CPUs this process may use that no pinned run
// holds, lowest first. Where fewer are free, or the claims cannot be
// made, it claims none and returns nil: the run goes unpinned, placed by
// the system, rather than onto a core that another pinned run holds.
// release gives the claims back.
func claimCPUs(n int) (cpus []int, release func()) {
	var held []*lockfile.Lock
	release = func() {
		for _, l := range held {
			l.Release()
		}
		held = nil
	}
	dir := claimDir()
	if n < 1 || os.MkdirAll(dir, 0o700) != nil {
		return nil, release
	}
	for _, c := range allowedCPUs() {
		l, err := lockfile.Acquire(dir, fmt.Sprintf("cpu%d.lock", c))
		if err != nil {
			continue
		}
		held = append(held, l)
		cpus = append(cpus, c)
		if len(cpus) == n {
			return cpus, release
		}
	}
	release()
	return nil, release
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
