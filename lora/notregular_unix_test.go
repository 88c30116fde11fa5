//go:build unix

package lora

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenNotRegular: a FIFO as an adapter's config or weights is refused,
// naming the file, instead of blocking in open. A hang is the failure.
func TestOpenNotRegular(t *testing.T) {
	src := filepath.Join(ref, "lora/dora/adapter")
	for _, name := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
				b, err := os.ReadFile(filepath.Join(src, f))
				if err != nil {
					t.Skip(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, name)
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skip(err)
			}
			if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), p+": not a regular file") {
				t.Errorf("err = %v, want %s: not a regular file", err, p)
			}
		})
	}
}
