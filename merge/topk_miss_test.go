package merge

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestTIESOneWindowMisses: when the sample's window holds one input's
// threshold but misses another's, the first input is done after the window
// pass while the second takes histogram passes; those passes once indexed
// the done input's freed histograms and panicked. The bytes must be those
// of a run whose windows all hold their thresholds, stored inputs or not,
// on one or two threads.
func TestTIESOneWindowMisses(t *testing.T) {
	dir := bf16Models(t)
	defer func(n int64, f func([]float32, int, int64) (uint32, uint32)) {
		chunkElements, chooseWindow = n, f
	}(chunkElements, chooseWindow)
	chunkElements = 1000 // many pieces
	for _, dtype := range []string{"bfloat16", "float32"} {
		yml := "merge_method: ties\nbase_model: base\ndtype: " + dtype + "\nmodels:\n" +
			"  - model: ft1\n    parameters: {weight: 0.6, density: 0.3}\n" +
			"  - model: ft2\n    parameters: {weight: -0.4, density: 0.7}\n"
		run := func(name string, threads int) string {
			t.Helper()
			out := filepath.Join(t.TempDir(), name)
			if _, err := runYAML(t, dir, yml, out, Options{Threads: threads}); err != nil {
				t.Fatalf("%s %s: %v", dtype, name, err)
			}
			return out
		}
		chooseWindow = sampleWindow
		want := run("sampled", 1)
		for _, below := range []bool{true, false} {
			// The denser input's window misses, below or above its
			// threshold; the other's is the sample's.
			chooseWindow = func(s []float32, k int, n int64) (uint32, uint32) {
				if float64(k) <= 0.5*float64(n) {
					return sampleWindow(s, k, n)
				}
				if below {
					return 0, 0
				}
				return 0x7f00 << 16, 0x7f04 << 16
			}
			for _, threads := range []int{1, 2} {
				sameTensors(t, want, run(fmt.Sprintf("miss-below-%v-j%d", below, threads), threads))
			}
		}
	}
}
