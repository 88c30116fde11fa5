package safetensors

import (
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
