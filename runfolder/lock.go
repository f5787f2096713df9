package runfolder

import (
	"errors"
	"fmt"

	"github.com/tinydigits/tinydigits/internal/lockfile"
)

// LockFile is the file in a run folder whose lock (flock) is held by the
// one process that trains or resumes the run. The kernel releases it when
// that process ends, however it ends; the file names the last holder.
const LockFile = "run.lock"

// Lock holds the run folder dir for this process until Release, creating
// dir when it is missing. While another process trains in dir, it refuses
// with an InputError naming that process, and changes nothing. Reading a
// run (-eval, predict, a sweep's report) needs no lock.
func Lock(dir string) (*lockfile.Lock, error) {
	l, err := lockfile.Acquire(dir, LockFile)
	var busy *lockfile.Busy
	switch {
	case errors.As(err, &busy):
		holder := "another process"
		if busy.Holder != "" {
			holder = busy.Holder
		}
		return nil, inputf("%s is in use by %s; wait for it to finish, or stop it (Ctrl-C keeps its checkpoint)", dir, holder)
	case err != nil:
		return nil, &InputError{Err: fmt.Errorf("run folder: %w", err)}
	}
	return l, nil
}
