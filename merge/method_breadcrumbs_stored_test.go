package merge

import (
	"path/filepath"
	"testing"
)

// TestOutliersStoredMatchesUnstored checks that breadcrumbs and
// breadcrumbs_ties give the same bytes from stored bfloat16 inputs
// (Method.StoredBF16: fused blocks, per-piece boundary ranks) as from the
// executor's float32 task vectors: with the sample's windows holding both
// boundaries, with the window of either boundary missing it above or
// below (a histogram pass and, with stored inputs, a counting pass
// follow), with inputs mapped or held (no sample), and on one, two and
// three threads.
func TestOutliersStoredMatchesUnstored(t *testing.T) {
	dir := bf16Models(t)
	type chooser = func([]float32, [2]int, int64) (lo, hi [2]uint32)
	defer func(n int64, f chooser, v inputAccess) {
		chunkElements, chooseRankWindows, heldAccess = n, f, v
	}(chunkElements, chooseRankWindows, heldAccess)
	sampled := chooseRankWindows
	// miss returns a chooser whose window for one boundary (0 the lower,
	// 1 the upper) lies above every magnitude or at zero only, below the
	// boundaries.
	miss := func(b int, above bool) chooser {
		return func(s []float32, q [2]int, n int64) (lo, hi [2]uint32) {
			lo, hi = sampled(s, q, n)
			lo[b], hi[b] = 0, 0
			if above {
				lo[b], hi[b] = 0x7f00<<16, 0x7f3f<<16
			}
			return lo, hi
		}
	}
	chunkElements = 1000 // many pieces, and entries equal to a boundary in several
	for _, m := range []*Method{Breadcrumbs, BreadcrumbsTIES} {
		if !m.StoredBF16 {
			t.Errorf("%s does not take stored inputs", m.Name)
			continue
		}
		for _, params := range []string{"", "parameters: {normalize: true, lambda: 0.7}\n"} {
			yml := "merge_method: " + m.Name + "\nbase_model: base\ndtype: bfloat16\n" + params + "models:\n" +
				"  - model: ft1\n    parameters: {weight: 0.6, density: 0.3, gamma: 0.1}\n" +
				"  - model: ft2\n    parameters: {weight: -0.4, density: 0.9, gamma: 0.02}\n" +
				"  - model: ft3\n    parameters: {weight: 0.3, density: 1}\n"
			run := func(name string, stored bool, threads int) string {
				t.Helper()
				m.StoredBF16 = stored
				defer func() { m.StoredBF16 = true }()
				out := filepath.Join(t.TempDir(), name)
				if _, err := runYAML(t, dir, yml, out, Options{Threads: threads}); err != nil {
					t.Fatalf("%s %s: %v", m.Name, name, err)
				}
				return out
			}
			want := run("unstored", false, 2)
			for _, c := range []struct {
				name    string
				choose  chooser
				access  inputAccess
				threads int
				float32 bool // task vectors in float32 buffers, not stored bytes
			}{
				{"sampled", sampled, accessReread, 2, false}, {"sampled -j 1", sampled, accessReread, 1, false},
				{"sampled -j 3", sampled, accessReread, 3, false},
				{"lower window above", miss(0, true), accessReread, 2, false},
				{"lower window below", miss(0, false), accessReread, 2, false},
				{"upper window above", miss(1, true), accessReread, 2, false},
				{"upper window below", miss(1, false), accessReread, 3, false},
				{"mapped", sampled, accessMap, 2, false}, {"held", sampled, accessCopy, 2, false},
				{"unstored, lower window below", miss(0, false), accessReread, 2, true},
				{"unstored, upper window above", miss(1, true), accessReread, 2, true},
			} {
				chooseRankWindows, heldAccess = c.choose, c.access
				sameTensors(t, want, run(c.name, !c.float32, c.threads))
			}
			chooseRankWindows, heldAccess = sampled, accessReread
		}
	}
}
