//go:build linux

package automerge

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gomerge/gomerge/automerge/leaderboard"
)

// tinyTmpfs mounts a tmpfs of size bytes on a new directory, or skips the
// test where mounting is not permitted (not root, no CAP_SYS_ADMIN).
func tinyTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): a real full disk needs root; see automerge/README.md", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill takes all the free space of the file system of dir but keep bytes.
func fill(t *testing.T, dir string, keep int64) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	n := int64(st.Bavail)*st.Bsize - keep
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, n); err != nil {
		t.Fatalf("fallocate %d bytes: %v", n, err)
	}
}

// TestRealDiskFull: the disk fills between the free-space check and the
// write of a child (the check is told there is room), so the merge itself
// meets ENOSPC on a real, tiny file system holding the whole state
// directory: the run is recorded failed with the reason, the kept
// children and the database stay intact, no staging directory is left,
// and once there is room again the next session goes on.
func TestRealDiskFull(t *testing.T) {
	fx := stories(t)
	p := poolFile(t, fx, "")
	state := filepath.Join(tinyTmpfs(t, "6m"), "state")
	ctx := context.Background()
	opt := runOpts(state, 3, 2)
	if _, err := Run(ctx, p, opt); err != nil {
		t.Fatal(err)
	}
	opt.Pool.Close()
	models := filepath.Join(state, ModelsDir)
	before := snapshotDir(t, models)
	// Room for the database's few pages, not for a 1 MB child.
	fill(t, filepath.Dir(state), 256<<10)
	opt = runOpts(state, 3, 3)
	opt.FreeSpace = func(string) (uint64, error) { return 1 << 40, nil }
	sum, err := Run(ctx, p, opt)
	opt.Pool.Close()
	if err != nil {
		t.Fatalf("a full disk ended the session: %v", err)
	}
	if !maps.Equal(before, snapshotDir(t, models)) {
		t.Errorf("a full disk changed the kept children or left files:\nbefore %v\nafter  %v", before, snapshotDir(t, models))
	}
	db, err := leaderboard.Open(ctx, filepath.Join(state, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ok, err := db.IntegrityCheck(ctx); err != nil || ok != "ok" {
		t.Errorf("integrity_check %q, %v", ok, err)
	}
	runs, err := db.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full := 0
	for _, r := range runs {
		if r.Status == leaderboard.StatusFailed {
			if !strings.Contains(r.Error, "no space left on device") {
				t.Errorf("run %d failed for %q, want the ENOSPC reason", r.ID, r.Error)
			}
			full++
		}
	}
	if full == 0 || sum.Failed != full || len(runs) != 6 {
		t.Errorf("%d runs failed for the full disk, summary %+v, %d runs", full, sum, len(runs))
	}
	db.Close()
	// No room at all, not even for the database's WAL index: the session
	// stops at once and says why, recording nothing.
	if err := os.Remove(filepath.Join(filepath.Dir(state), "filler")); err != nil {
		t.Fatal(err)
	}
	fill(t, filepath.Dir(state), 0)
	opt = runOpts(state, 1, 3)
	_, err = Run(ctx, p, opt)
	opt.Pool.Close()
	if err == nil || !strings.Contains(err.Error(), "is full: 0 bytes free") {
		t.Errorf("a session on a full disk: %v, want the full file system named", err)
	}
	// Room again: the next session writes children.
	if err := os.Remove(filepath.Join(filepath.Dir(state), "filler")); err != nil {
		t.Fatal(err)
	}
	opt = runOpts(state, 2, 3)
	if _, err := Run(ctx, p, opt); err != nil && !errors.Is(err, ErrExhausted) {
		t.Fatal(err)
	}
	opt.Pool.Close()
	if w0, w1 := weightFiles(before), weightFiles(snapshotDir(t, models)); w1 <= w0 {
		t.Errorf("the session after the full disk wrote no child (%d weight files, %d before)", w1, w0)
	}
}

// weightFiles counts the weight files of a snapshot.
func weightFiles(snap map[string]string) int {
	n := 0
	for p := range snap {
		if weightFile(filepath.Base(p)) {
			n++
		}
	}
	return n
}
