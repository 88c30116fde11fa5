//go:build unix

package outdir

import (
	"os"
	"syscall"
)

type devIno struct{ dev, ino uint64 }

// fileID is the device and inode of p, following links.
func fileID(p string) (devIno, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		return devIno{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return devIno{}, false
	}
	return devIno{uint64(st.Dev), uint64(st.Ino)}, true
}
