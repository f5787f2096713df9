package engine

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

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
