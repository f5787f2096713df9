package engine

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/models"
)

// baseMB is the resident memory of a run before its net computes anything:
// libtorch, the Go process and the MNIST bytes (EstimateMB).
const baseMB = 400

// testImages is the size of MNIST's test set: the most images an
// evaluation batch can hold without -holdout.
const testImages = 10_000

// availableMB is AvailableMB; tests replace it.
var availableMB = AvailableMB

// checkMemory refuses, before anything large is allocated, a run whose
// estimated peak (EstimateMB) does not fit in 90% of the memory available:
// the same estimate and share the sweep sizes its pool with. On a GPU the
// activations are the device's: they are checked against its free memory.
func (c *Config) checkMemory(onGPU bool, gpuFreeMB float64) error {
	need := EstimateMB(*c)
	where, avail := "", availableMB()
	if onGPU {
		need -= baseMB
		where, avail = " GPU", gpuFreeMB
	}
	if avail <= 0 || need <= 0.9*avail {
		return nil
	}
	return inputErr("the run needs about %s MB of%s memory (batch %d, test batch %d) and %s MB are available; a smaller -batch-size (or -test-batch-size) fits",
		models.Thousands(int64(need+0.5)), where, c.BatchSize, c.TestBatchSize, models.Thousands(int64(avail)))
}

// Memory reads this process's resident set size and its peak (VmRSS and
// VmHWM in /proc/self/status) in MB; zeros where /proc is missing.
func Memory() (rssMB, peakMB float64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if err != nil {
			continue
		}
		if key == "VmRSS" {
			rssMB = kb / 1024
		} else {
			peakMB = kb / 1024
		}
	}
	return rssMB, peakMB
}

// settle collects Go's garbage and returns the freed pages to the OS, so
// that the resident memory a run reports is what it uses: after loading the
// data (the compressed files are garbage then) and after each epoch. A
// collection of this heap, mostly the MNIST bytes, takes a millisecond or
// two.
func settle() { debug.FreeOSMemory() }

// EstimateMB is a CPU run's peak resident memory in MB, from its net and
// batch sizes: about 400 MB of libtorch, the process and the MNIST bytes;
// one float32 for every value the net computes per training image (its
// activations, kept for the backward pass); and the two largest layers'
// outputs of a test batch. Fitted to measured peaks (VmHWM, libtorch
// 1.13.1): tiny at batch 32 448 MB (estimate 463), step3 at batch 64 530
// MB (517) and at batch 512 654 MB (724).
//
// The test batch counts at most the images an evaluation can hold: the
// held-out images with -holdout, else MNIST's 10,000 test images.
func EstimateMB(cfg Config) float64 {
	const base = baseMB
	arch, err := cfg.arch()
	if err != nil {
		return base
	}
	plan, err := arch.Plan()
	if err != nil {
		return base
	}
	total, largest := int64(mnist.Rows*mnist.Cols), int64(0)
	for _, r := range plan.Rows {
		n := int64(1)
		for _, d := range r.Output {
			n *= int64(d)
		}
		total += n
		largest = max(largest, n)
	}
	evalImages := testImages
	if cfg.Holdout > 0 {
		evalImages = cfg.Holdout
	}
	testBatch := min(cfg.TestBatchSize, evalImages)
	bytes := 4*float64(total)*float64(cfg.BatchSize) + 2*4*float64(largest)*float64(testBatch)
	return base + bytes/(1<<20)
}

// AvailableMB is the memory this process may still use, in MB: the
// system's MemAvailable, or less where a cgroup (a container, a Slurm
// job) limits it; 0 when unknown.
func AvailableMB() float64 {
	return availableIn("/proc/meminfo", "/sys/fs/cgroup", "/proc/self/cgroup")
}

// availableIn is AvailableMB from the given files: meminfo, the cgroup v2
// mount and this process's /proc/self/cgroup. The limits are those of the
// process's own cgroup and of each cgroup above it (a Slurm job's step
// sits below the job, which holds the limit), not only the root's.
func availableIn(meminfo, mount, self string) float64 {
	avail := 0.0
	if f, err := os.Open(meminfo); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				avail = kb / 1024
			}
		}
		f.Close()
	}
	for _, c := range cgroupLimits(mount, self) {
		limit, used := readNumber(c.limit), readNumber(c.used)
		if limit > 0 && used >= 0 {
			if free := max(0, limit-used) / (1 << 20); avail == 0 || free < avail {
				avail = free
			}
		}
	}
	return avail
}

// cgroupFiles are one cgroup's memory limit and use.
type cgroupFiles struct{ limit, used string }

// cgroupLimits are the memory files of this process's cgroup and of every
// cgroup above it, under mount, from the lines of self (/proc/self/cgroup):
// cgroup v2's "0::/path" (memory.max, memory.current) and cgroup v1's
// "N:memory:/path" (memory/…/memory.limit_in_bytes, memory.usage_in_bytes).
// A Slurm job's limit sits on the job's cgroup, above the step's that the
// process is in; a container whose cgroup namespace makes its own cgroup
// the root finds it at the mount itself.
func cgroupLimits(mount, self string) []cgroupFiles {
	v2 := func(dir string) cgroupFiles {
		return cgroupFiles{filepath.Join(dir, "memory.max"), filepath.Join(dir, "memory.current")}
	}
	v1 := func(dir string) cgroupFiles {
		return cgroupFiles{filepath.Join(dir, "memory.limit_in_bytes"), filepath.Join(dir, "memory.usage_in_bytes")}
	}
	out := []cgroupFiles{v2(mount), v1(filepath.Join(mount, "memory"))}
	data, err := os.ReadFile(self)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		_, rest, _ := strings.Cut(line, ":")
		controllers, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		var files func(string) cgroupFiles
		dir := mount
		switch {
		case controllers == "":
			files = v2
		case slices.Contains(strings.Split(controllers, ","), "memory"):
			files, dir = v1, filepath.Join(mount, "memory")
		default:
			continue
		}
		for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
			if part == "" || part == ".." || part == "." {
				continue
			}
			dir = filepath.Join(dir, part)
			out = append(out, files(dir))
		}
	}
	return out
}

// readNumber reads a file holding one number; -1 when it holds none ("max").
func readNumber(path string) float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
	if err != nil {
		return -1
	}
	return v
}
