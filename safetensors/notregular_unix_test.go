//go:build unix

package safetensors

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gomerge/gomerge/internal/regfile"
)

// TestOpenNotRegular: a FIFO, device or directory in the place of a shard
// or an index is refused, naming the file, instead of blocking in open or
// reading without end. A hang is the failure.
func TestOpenNotRegular(t *testing.T) {
	fifo := func(p string) error { return syscall.Mkfifo(p, 0o644) }
	zero := func(p string) error { return os.Symlink("/dev/zero", p) }
	dir := func(p string) error { return os.Mkdir(p, 0o755) }
	tests := []struct {
		name    string
		sharded bool
		file    string
		make    func(string) error
	}{
		{"FIFO single file", false, singleFile, fifo},
		{"FIFO shard", true, shard2, fifo},
		{"FIFO index", true, indexFile, fifo},
		{"device shard", true, shard1, zero},
		{"device index", true, indexFile, zero},
		{"directory shard", true, shard2, dir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			if tc.sharded {
				d = shardedDir(t, "")
			} else {
				writeModel(t, d, []TensorSpec{spec("a", 2)}, WriterOptions{})
			}
			p := filepath.Join(d, tc.file)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(p); err != nil {
				t.Skip(err)
			}
			m, err := OpenModel(d)
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, regfile.ErrNotRegular) || !strings.Contains(err.Error(), p+": not a regular file") {
				t.Errorf("err = %v, want %s: not a regular file", err, p)
			}
			if _, err := Open(p); !errors.Is(err, regfile.ErrNotRegular) {
				t.Errorf("Open: err = %v", err)
			}
		})
	}
}
