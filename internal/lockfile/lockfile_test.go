//go:build unix

package lockfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestTryLock checks that a second holder is refused with ErrBusy while
// the first holds the lock, in this process and in another one, and that
// closing the file releases it.
func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	f, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(path); !errors.Is(err, ErrBusy) {
		t.Fatalf("second TryLock: %v, want ErrBusy", err)
	}
	if flock, err := exec.LookPath("flock"); err == nil {
		if err := exec.Command(flock, "-n", path, "true").Run(); err == nil {
			t.Error("another process took the lock while it was held")
		}
	}
	f.Close()
	g, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after release: %v", err)
	}
	g.Close()
	if _, err := TryLock(filepath.Join(t.TempDir(), "missing", "lock")); err == nil || errors.Is(err, ErrBusy) {
		t.Errorf("lock in a missing directory: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
}
