package merge

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/tensor"
)

// bf16Models writes a bfloat16 base and three fine-tunes of it (ft1..ft3)
// into a temporary directory, for the stored-bytes tests.
func bf16Models(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, s := range map[string]testmodel.Spec{
		"base": {Seed: 1, DType: tensor.BF16},
		"ft1":  {Seed: 1, Delta: 0.01, DeltaSeed: 2, DType: tensor.BF16},
		"ft2":  {Seed: 1, Delta: 0.01, DeltaSeed: 3, DType: tensor.BF16},
		"ft3":  {Seed: 1, Delta: 0.02, DeltaSeed: 4, DType: tensor.BF16},
	} {
		if err := testmodel.Write(filepath.Join(dir, name), s); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sameStoredUnstored checks that method m merges yml (a config over dir's
// models) to the same bytes from stored bfloat16 inputs, on one to three
// threads and with inputs reread, mapped and held, as from the executor's
// float32 task vectors, and that the stored runs took stored inputs.
func sameStoredUnstored(t *testing.T, m *Method, dir, yml, name string) {
	t.Helper()
	analyze, storedBF16 := m.Analyze, m.StoredBF16
	defer func(a inputAccess) { m.Analyze, m.StoredBF16, heldAccess = analyze, storedBF16, a }(heldAccess)
	var stored atomic.Int64
	m.Analyze = func(ts *Tensors) (Analysis, error) {
		if ts.Stored {
			stored.Add(1)
		}
		return analyze(ts)
	}
	run := func(label string, st bool, threads int, access inputAccess) string {
		t.Helper()
		m.StoredBF16, heldAccess = st, access
		stored.Store(0)
		out := filepath.Join(t.TempDir(), label)
		if _, err := runYAML(t, dir, yml, out, Options{Threads: threads}); err != nil {
			t.Fatalf("%s %s: %v", name, label, err)
		}
		if got := stored.Load() > 0; got != st {
			t.Fatalf("%s %s: stored inputs %v, want %v", name, label, got, st)
		}
		return out
	}
	want := run("unstored", false, 2, accessReread)
	for _, threads := range []int{1, 2, 3} {
		sameTensors(t, want, run(fmt.Sprint("stored j", threads), true, threads, accessReread))
	}
	sameTensors(t, want, run("stored mapped", true, 2, accessMap))
	sameTensors(t, want, run("stored held", true, 2, accessCopy))
}

// TestStoredMatchesUnstored checks that the task-vector methods give the
// same bytes from stored bfloat16 inputs (Method.StoredBF16: fused blocks,
// per-piece ties) as from the executor's float32 task vectors: with the
// sample's window holding the threshold, missing it above and below,
// with inputs read instead of mapped (no sample), and on one and two
// threads.
func TestStoredMatchesUnstored(t *testing.T) {
	dir := bf16Models(t)
	defer func(n int64, f func([]float32, int, int64) (uint32, uint32), v inputAccess) {
		chunkElements, chooseWindow, heldAccess = n, f, v
	}(chunkElements, chooseWindow, heldAccess)
	chunkElements = 1000 // many pieces, and entries equal to a threshold in several
	for _, m := range []*Method{TIES, TaskArithmetic, DARETIES, DARELinear, DELLA, DELLALinear} {
		extra := "" // the sparsifier's own parameters
		switch m {
		case DELLA, DELLALinear:
			extra = ", epsilon: 0.1"
		}
		if !m.StoredBF16 {
			t.Errorf("%s does not take stored inputs", m.Name)
			continue
		}
		for _, params := range []string{"", "parameters: {normalize: false, lambda: 0.7}\n"} {
			yml := "merge_method: " + m.Name + "\nbase_model: base\ndtype: bfloat16\n" + params + "models:\n" +
				"  - model: ft1\n    parameters: {weight: 0.6, density: 0.3" + extra + "}\n" +
				"  - model: ft2\n    parameters: {weight: -0.4, density: 0.7" + extra + "}\n" +
				"  - model: ft3\n    parameters: {weight: 0.3, density: 1" + extra + "}\n"
			run := func(name string, stored bool, threads int) string {
				t.Helper()
				m.StoredBF16 = stored
				defer func() { m.StoredBF16 = true }()
				out := filepath.Join(t.TempDir(), name)
				if _, err := runYAML(t, dir, yml, out, Options{Seed: new(uint64(5)), Threads: threads}); err != nil {
					t.Fatalf("%s %s: %v", m.Name, name, err)
				}
				return out
			}
			want := run("unstored", false, 2)
			for _, c := range []struct {
				name    string
				lo, hi  uint32
				access  inputAccess
				threads int
			}{
				{"sampled", 0, 0, accessReread, 2}, {"sampled -j 1", 0, 0, accessReread, 1}, {"sampled -j 3", 0, 0, accessReread, 3},
				{"window above", 0x7f00 << 16, 0x7f04 << 16, accessReread, 2}, {"window below", 0, 0, accessReread, 2},
				{"mapped", 0, 0, accessMap, 2}, {"held", 0, 0, accessCopy, 2},
			} {
				chooseWindow, heldAccess = sampleWindow, c.access
				if c.lo != 0 || c.name == "window below" {
					chooseWindow = func([]float32, int, int64) (uint32, uint32) { return c.lo, c.hi }
				}
				sameTensors(t, want, run(c.name, true, c.threads))
			}
			chooseWindow, heldAccess = sampleWindow, accessReread
		}
	}
}
