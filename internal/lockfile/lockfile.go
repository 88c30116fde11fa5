// Package lockfile takes exclusive advisory locks on files without
// waiting: one run at a time per state directory (gomerge evolve's
// storage, gomerge automerge's state). The kernel drops a lock when its
// holder dies, however it dies, so a run killed with -9 never leaves a
// directory locked.
package lockfile

import (
	"errors"
	"os"
)

// ErrBusy is wrapped by TryLock's error when another process holds the
// lock.
var ErrBusy = errors.New("locked by another process")

// TryLock opens path (creating it) and takes an exclusive lock on it
// without waiting. The lock lasts until the returned file is closed or
// the process ends. Where the system has no flock, the file is opened and
// nothing is locked.
func TryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lock(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
