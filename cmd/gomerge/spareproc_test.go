package main

import (
	"runtime"
	"testing"

	"github.com/gomerge/gomerge/merge"
)

// TestSpareProc checks that a merge gets one Go processor more than its
// threads unless GOMAXPROCS is set, and that -j is then fixed so that the
// extra processor does not become an extra merge thread.
func TestSpareProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []struct {
		env            string
		procs, threads int
		wantThreads    int
		wantProcs      int
	}{
		{"", 2, 0, 2, 3},
		{"", 2, 1, 1, 2},
		{"", 4, 6, 6, 7},
		{"", 1, 0, 1, 2},
		{"2", 2, 0, 2, 2},
		{"1", 1, 1, 1, 1},
	} {
		t.Setenv("GOMAXPROCS", c.env)
		runtime.GOMAXPROCS(c.procs)
		opt := merge.Options{Threads: c.threads}
		opt.Threads = spareProcs(opt.Threads)
		if opt.Threads != c.wantThreads || runtime.GOMAXPROCS(0) != c.wantProcs {
			t.Errorf("GOMAXPROCS=%q, %d procs, -j %d: -j %d and %d procs, want -j %d and %d procs",
				c.env, c.procs, c.threads, opt.Threads, runtime.GOMAXPROCS(0), c.wantThreads, c.wantProcs)
		}
	}
}
