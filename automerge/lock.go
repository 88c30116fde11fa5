package automerge

import (
	"errors"
	"fmt"
	"os"

	"github.com/gomerge/gomerge/internal/lockfile"
)

// lockState takes the state directory's lock (see package lockfile): a
// second run on the same directory gets ErrLocked.
func lockState(path string) (*os.File, error) {
	f, err := lockfile.TryLock(path)
	if errors.Is(err, lockfile.ErrBusy) {
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	}
	return f, err
}
