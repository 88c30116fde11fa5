//go:build unix

package evolve

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockStorage takes an exclusive flock on the storage directory's lock
// file. The kernel drops it when the process dies, however it dies, so a
// run killed with -9 never leaves the directory locked.
func lockStorage(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
