//go:build unix

package outdir

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lock is an exclusive flock on a staging directory, held while its
// writer lives; the kernel drops it when the process dies, however it
// dies, which is how a later run tells a live writer from a dead one.
type lock struct{ f *os.File }

var errLocked = errors.New("locked by a running writer")

func lockDir(dir string) (*lock, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, err
	}
	return &lock{f: f}, nil
}

func tryLockDir(dir string) (*lock, error) { return lockDir(dir) }

func (l *lock) release() {
	if l != nil && l.f != nil {
		unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}
