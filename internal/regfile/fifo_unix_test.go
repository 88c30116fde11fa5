//go:build unix

package regfile

import (
	"path/filepath"
	"syscall"
	"testing"
)

func mkfifo(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "model.safetensors")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	return p
}
