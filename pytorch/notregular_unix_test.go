//go:build unix

package pytorch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gomerge/gomerge/internal/regfile"
)

// TestOpenNotRegular: a FIFO or device in the place of a checkpoint or its
// index is refused, naming the file, instead of blocking in open. A hang
// is the failure.
func TestOpenNotRegular(t *testing.T) {
	fifo := func(p string) error { return syscall.Mkfifo(p, 0o644) }
	zero := func(p string) error { return os.Symlink("/dev/zero", p) }
	for _, tc := range []struct {
		name, file string
		index      string
		make       func(string) error
	}{
		{"FIFO checkpoint", singleFile, "", fifo},
		{"device checkpoint", singleFile, "", zero},
		{"FIFO index", indexFile, "", fifo},
		{"FIFO shard", "a.bin", `{"weight_map":{"w":"a.bin"}}`, fifo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.index != "" {
				if err := os.WriteFile(filepath.Join(dir, indexFile), []byte(tc.index), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, tc.file)
			if err := tc.make(p); err != nil {
				t.Skip(err)
			}
			if _, err := OpenModel(dir); !errors.Is(err, regfile.ErrNotRegular) || !strings.Contains(err.Error(), p+": not a regular file") {
				t.Errorf("OpenModel: err = %v, want %s: not a regular file", err, p)
			}
			if _, err := Open(p); !errors.Is(err, regfile.ErrNotRegular) {
				t.Errorf("Open: err = %v", err)
			}
		})
	}
}
