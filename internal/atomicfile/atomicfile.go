// Package atomicfile writes files so that a crash, a kill or a full disk
// leaves either the old file or the new one, never a mix or a part.
//
// Each write goes to a temporary file with a unique name in the destination's
// folder (".NAME.tmp" and random digits), is synced, and is renamed over the
// destination; the folder is synced so the rename lasts. On failure the
// temporary file is removed. Files get ordinary permissions, 0644 less the
// process's umask, like files made by os.WriteFile.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Perm is the permission of every file written here, before the umask.
const Perm fs.FileMode = 0o644

// BeforeChange, when set, is called before each change this package makes
// to a file: a written file's rename into place (its temporary file
// complete beside it) and a removal. Crash tests set it to kill their
// process at a chosen change; it is nil otherwise.
var BeforeChange func(path string)

// Write writes data to path atomically.
func Write(path string, data []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc writes what write produces to path atomically; an error from
// write leaves path as it was.
func WriteFunc(path string, write func(io.Writer) error) (err error) {
	f, tmp, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if BeforeChange != nil {
		BeforeChange(path)
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// createTemp makes a new file beside path with a name no other writer
// uses, and permission Perm (less the umask: os.OpenFile applies it, where
// os.CreateTemp would make the file 0600).
func createTemp(path string) (*os.File, string, error) {
	for range 100 {
		tmp := filepath.Join(filepath.Dir(path), tempPrefix(filepath.Base(path))+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, Perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, tmp, err
	}
	return nil, "", fmt.Errorf("no unused temporary name beside %s", path)
}

func tempPrefix(base string) string { return "." + base + ".tmp" }

// syncDir makes a rename in dir durable. File systems that cannot sync a
// folder (some network ones) are left to their own guarantees.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Remove removes path, durably (its folder synced), so that a crash after
// it does not bring the file back; a missing file is no error.
func Remove(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if BeforeChange != nil {
		BeforeChange(path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// RemoveTemps removes the temporary files that killed writes of the named
// files (base names) left in dir, and reports how many it removed.
func RemoveTemps(dir string, names ...string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		for _, name := range names {
			if e.Type().IsRegular() && strings.HasPrefix(e.Name(), tempPrefix(name)) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	return n, nil
}
