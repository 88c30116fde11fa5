package safetensors

import (
	"errors"
	"os"
	"unsafe"

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

// hugeBufferSize is the size of a transparent huge page on amd64 and
// arm64 with 4 KiB pages.
const hugeBufferSize = 2 << 20

// hugeBuffer returns n bytes of anonymous memory aligned to
// hugeBufferSize and advised to be backed by transparent huge pages, or
// nil if n is not a multiple of hugeBufferSize or the mapping fails. A
// direct write pins its buffer's pages one by one, which costs more CPU
// than copying them on some VMs, and a huge page is one. The memory is
// never unmapped: stage buffers are pooled for the life of the process.
func hugeBuffer(n int) []byte {
	if n%hugeBufferSize != 0 {
		return nil
	}
	m, err := unix.Mmap(-1, 0, n+hugeBufferSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil
	}
	skip := int(-uintptr(unsafe.Pointer(&m[0])) & (hugeBufferSize - 1))
	b := m[skip : skip+n : skip+n]
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // a hint: small pages work too
	return b
}
