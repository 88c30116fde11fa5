//go:build !unix

package evolve

import "os"

// lockStorage opens the lock file; without flock a second run on the same
// storage path cannot be detected.
func lockStorage(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}
