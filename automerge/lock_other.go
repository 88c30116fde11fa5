//go:build !unix

package automerge

import (
	"math"
	"os"
)

// lockState opens the lock file; without flock a second run on the same
// state directory cannot be detected.
func lockState(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

// freeSpace is unknown here: the merge's own write errors catch a full
// disk.
func freeSpace(string) (uint64, error) { return math.MaxUint64, nil }
