//go:build unix

package eval

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gomerge/gomerge/internal/regfile"
)

// TestLoadTaskFIFO: a FIFO as the task file or its data set is refused
// instead of blocking the open. A hang is the failure.
func TestLoadTaskFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "items.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	yml := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(yml, []byte("output_type: multiple_choice\ndataset_path: items.jsonl\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{fifo, yml} {
		if _, err := LoadTask(name); !errors.Is(err, regfile.ErrNotRegular) {
			t.Errorf("LoadTask(%s): err = %v, want %v", name, err, regfile.ErrNotRegular)
		}
		if _, err := LoadTaskFS(os.DirFS(dir), filepath.Base(name)); !errors.Is(err, regfile.ErrNotRegular) {
			t.Errorf("LoadTaskFS(%s): err = %v, want %v", name, err, regfile.ErrNotRegular)
		}
	}
}
