package evolve

import (
	"errors"
	"fmt"
	"os"

	"github.com/gomerge/gomerge/internal/lockfile"
)

// lockStorage takes the storage directory's lock (see package lockfile):
// a second run on the same storage path gets ErrLocked.
func lockStorage(path string) (*os.File, error) {
	f, err := lockfile.TryLock(path)
	if errors.Is(err, lockfile.ErrBusy) {
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	}
	return f, err
}
