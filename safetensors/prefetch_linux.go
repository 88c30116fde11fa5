//go:build linux

package safetensors

import "golang.org/x/sys/unix"

// prefetch asks the kernel to start reading n bytes at off of f into the
// page cache and returns without waiting for them. The pages land in the
// page cache, not in the process, so it costs no resident memory.
func (f *File) prefetch(off, n int64) {
	_ = unix.Fadvise(int(f.f.Fd()), off, n, unix.FADV_WILLNEED)
}
