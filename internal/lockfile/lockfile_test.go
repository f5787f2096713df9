package lockfile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A second Acquire of a held lock is refused naming the holder; once
// released, it succeeds. flock(2) locks belong to open files, so two
// Acquires in one process exclude each other as two processes do.
func TestAcquire(t *testing.T) {
	dir := t.TempDir()
	a, err := Acquire(dir, "x.lock")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "x.lock")
	var busy *Busy
	want := fmt.Sprintf("pid %d: ", os.Getpid())
	if !errors.As(err, &busy) || !strings.HasPrefix(busy.Holder, want) || !strings.Contains(err.Error(), filepath.Join(dir, "x.lock")) {
		t.Fatalf("second Acquire: %v, want a *Busy naming %q", err, want)
	}
	a.Release()
	a.Release() // twice is harmless
	b, err := Acquire(dir, "x.lock")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	b.Release()
	if _, err := os.Stat(filepath.Join(dir, "x.lock")); err != nil {
		t.Errorf("the lock file of an existing folder should stay: %v", err)
	}
}

// A folder that Acquire made goes with Release when nothing else was
// written into it, and stays when something was.
func TestAcquireMakesTheFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	l, err := Acquire(dir, "x.lock")
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("an empty folder Acquire made stayed: %v", err)
	}
	l, err = Acquire(dir, "x.lock")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "work"), []byte("1"), 0o644)
	l.Release()
	if _, err := os.Stat(filepath.Join(dir, "work")); err != nil {
		t.Errorf("a folder with work in it went: %v", err)
	}
}

// The kernel releases the lock of a process that is killed: no stale lock.
func TestKilledHolderLeavesNoLock(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("no flock(1) here")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.lock")
	os.WriteFile(path, nil, 0o644)
	holder := exec.Command("flock", "--exclusive", "--no-fork", path, "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	for i := 0; ; i++ { // until the holder has it
		l, err := Acquire(dir, "x.lock")
		if err != nil {
			break
		}
		l.Release()
		if i == 1000 {
			t.Fatal("flock(1) never took the lock")
		}
	}
	holder.Process.Kill()
	holder.Wait()
	l, err := Acquire(dir, "x.lock")
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Release()
}

// Held tells whether another holds a lock, without taking it or writing.
func TestHeld(t *testing.T) {
	dir := t.TempDir()
	if held, _ := Held(dir, "x.lock"); held {
		t.Error("a missing lock file is held")
	}
	l, err := Acquire(dir, "x.lock")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "x.lock"))
	held, holder := Held(dir, "x.lock")
	if !held || holder != strings.TrimSpace(string(before)) {
		t.Errorf("held lock: %v %q", held, holder)
	}
	l.Release()
	if held, _ := Held(dir, "x.lock"); held {
		t.Error("a released lock is held")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "x.lock")); string(after) != string(before) {
		t.Error("Held wrote to the lock file")
	}
}
