package pool

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinydigits/tinydigits/internal/lockfile"
	"github.com/tinydigits/tinydigits/runfolder"
)

// Pinned runs claim CPUs that no other pinned run holds, whichever sweep
// holds them; with none free a run goes unpinned; a released CPU is free
// again.
func TestClaimCPUs(t *testing.T) {
	cpus := allowedCPUs()
	if len(cpus) < 2 {
		t.Skipf("%d CPUs", len(cpus))
	}
	// Claims of their own, apart from sweeps that other tests run.
	dir := t.TempDir()
	defer func(f func() string) { claimDir = f }(claimDir)
	claimDir = func() string { return dir }
	var claimed [][]int
	var releases []func()
	for range cpus {
		c, release := claimCPUs(1)
		if len(c) != 1 {
			t.Fatalf("claim %d: %v", len(claimed)+1, c)
		}
		claimed, releases = append(claimed, c), append(releases, release)
	}
	seen := map[int]bool{}
	for _, c := range claimed {
		if seen[c[0]] {
			t.Errorf("CPU %d claimed twice: %v", c[0], claimed)
		}
		seen[c[0]] = true
	}
	if c, _ := claimCPUs(1); c != nil {
		t.Errorf("every CPU is held, yet claimed %v", c)
	}
	releases[0]()
	if c, release := claimCPUs(1); len(c) != 1 || c[0] != claimed[0][0] {
		t.Errorf("after a release: %v, want %v", c, claimed[0])
	} else {
		release()
	}
	for _, r := range releases[1:] {
		r()
	}
	if c, release := claimCPUs(len(cpus) + 1); c != nil {
		t.Errorf("more CPUs than there are: %v", c)
		release()
	}
}

// A run folder that another process holds is waited for, and its holder
// named once; a free one is not.
func TestWaitForFolder(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	WaitForFolder(context.Background(), dir, func(string) { t.Error("waited for a free folder") })
	if time.Since(start) > time.Second {
		t.Error("slow on a free folder")
	}
	l, err := lockfile.Acquire(dir, runfolder.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		l.Release()
	}()
	var told []string
	start = time.Now()
	WaitForFolder(context.Background(), dir, func(h string) { told = append(told, h) })
	if time.Since(start) < 250*time.Millisecond || len(told) != 1 || !strings.HasPrefix(told[0], "pid ") {
		t.Errorf("waited %v, told %q", time.Since(start), told)
	}
	if _, err := os.Stat(filepath.Join(dir, runfolder.LockFile)); err != nil {
		t.Error(err)
	}
}
