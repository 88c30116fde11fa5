//go:build unix

package automerge

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// freeSpace returns the bytes an unprivileged writer may still use on the
// file system holding dir.
func freeSpace(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
