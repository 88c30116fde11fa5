//go:build unix

package regfile

import (
	"os"
	"syscall"
)

// open opens name without blocking: a FIFO with no writer would otherwise
// block the open until one comes.
func open(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// clearNonblock puts the file back in blocking mode, which reads of a
// regular file use anyway; it keeps the descriptor ordinary for code that
// hands it on.
func clearNonblock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}
