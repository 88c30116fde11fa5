package safetensors

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing the n bytes at off of f
// to disk now (sync_file_range with SYNC_FILE_RANGE_WRITE, which does not
// wait). The final fsync then finds most pages already on their way, so
// writing the output overlaps with merging instead of following it. Errors
// are ignored: this is only a hint, and Close's fsync reports real ones.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// preallocate reserves size bytes of disk for f, so that a full disk is
// reported when the file is created rather than halfway through a merge,
// and the file system allocates the blocks once instead of page by page.
// File systems without fallocate are left to allocate as they go.
func preallocate(f *os.File, size int64) error {
	if size <= 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}

// openDirect opens path for writing with O_DIRECT, or returns nil if the
// file system refuses (EINVAL from tmpfs before Linux 6.6, for one).
func openDirect(path string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}
