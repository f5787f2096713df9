// Package host describes the machine a benchmark runs on, for the tables
// the bench programs write.
package host

import (
	"bufio"
	"os"
	"strings"
)

// CPU is the processor's model name from /proc/cpuinfo ("unknown CPU"
// where there is none).
func CPU() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
