package pool

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/tinydigits/tinydigits/train/engine"
)

// EstimateMB is a CPU run's peak resident memory in MB, from its net and
// batch sizes: about 400 MB of libtorch, the process and the MNIST bytes;
// one float32 for every value the net computes per training image (its
// activations, kept for the backward pass); and the two largest layers'
// outputs of a test batch. Fitted to measured peaks (VmHWM, libtorch
// 1.13.1): tiny at batch 32 448 MB (estimate 463), step3 at batch 64 530
// MB (517) and at batch 512 654 MB (724).
func EstimateMB(cfg engine.Config) float64 {
	const base = 400
	if cfg.Net == nil {
		return base
	}
	plan, err := cfg.Net.Plan()
	if err != nil {
		return base
	}
	total, largest := int64(28*28), int64(0)
	for _, r := range plan.Rows {
		n := int64(1)
		for _, d := range r.Output {
			n *= int64(d)
		}
		total += n
		largest = max(largest, n)
	}
	bytes := 4*float64(total)*float64(cfg.BatchSize) + 2*4*float64(largest)*float64(cfg.TestBatchSize)
	return base + bytes/(1<<20)
}

// AvailableMB is the memory this process may still use, in MB: the
// system's MemAvailable, or less where a cgroup (a container, a Slurm
// job) limits it; 0 when unknown.
func AvailableMB() float64 {
	avail := 0.0
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				avail = kb / 1024
			}
		}
		f.Close()
	}
	limit := readNumber("/sys/fs/cgroup/memory.max")
	used := readNumber("/sys/fs/cgroup/memory.current")
	if limit > 0 && used >= 0 {
		if free := (limit - used) / (1 << 20); avail == 0 || free < avail {
			avail = free
		}
	}
	return avail
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
