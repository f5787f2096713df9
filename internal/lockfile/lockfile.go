// Package lockfile gives a folder one writer at a time: a process takes
// an exclusive flock(2) on a file in the folder and holds it while it
// works. The kernel releases the lock when the process ends, however it
// ends, so a killed process leaves no stale lock behind, and the file
// (which stays) names the last holder for the message a second process
// gets.
package lockfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Busy is the error of Acquire when another process holds the lock.
type Busy struct {
	Path   string
	Holder string // "pid 1234: train -arch step3", or "" when unknown
}

func (e *Busy) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("%s is held by another process", e.Path)
	}
	return fmt.Sprintf("%s is held by %s", e.Path, e.Holder)
}

// Lock is a held lock; Release gives it back.
type Lock struct {
	f       *os.File
	path    string
	created string // the folder Acquire made, removed by Release if it stayed empty
}

// Acquire takes the lock file name in dir without waiting, creating dir
// when it is missing. When another process holds it, the error is a *Busy
// naming that process. The file records this process's pid and command
// line.
func Acquire(dir, name string) (*Lock, error) {
	var created string
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		created = dir
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &Busy{Path: path, Holder: Holder(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "pid %d: %s\n", os.Getpid(), commandLine())
	return &Lock{f: f, path: path, created: created}, nil
}

// Release gives the lock back. A folder that Acquire created and that holds
// nothing but the lock file is removed with it, so a process that failed
// before writing anything leaves nothing behind.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	if l.created != "" {
		if entries, err := os.ReadDir(l.created); err == nil && len(entries) == 1 && entries[0].Name() == filepath.Base(l.path) {
			os.Remove(l.path)
			os.Remove(l.created)
		}
	}
	l.f.Close()
	l.f = nil
}

// Held reports whether another process holds the lock file name in dir,
// and what the file says of it, without taking the lock or writing
// anything. A missing file is not held.
func Held(dir, name string) (held bool, holder string) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return false, ""
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK), Holder(path)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, ""
}

// Holder is what the lock file at path says of its holder ("pid 1234:
// train -arch step3"), or "" when it says nothing readable.
func Holder(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// commandLine is the program's name and arguments, as a person would type
// them: the name without the folder (go run builds into a temporary one).
func commandLine() string {
	if len(os.Args) == 0 {
		return "?"
	}
	words := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	line := strings.Join(words, " ")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	return strings.ReplaceAll(line, "\n", " ")
}
