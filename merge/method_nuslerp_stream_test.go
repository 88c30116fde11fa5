package merge

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestNuSlerpRowsStreamedMatchesWhole checks that row-by-row nuslerp
// (nuslerp_flatten off), streamed in pieces of whole rows, writes the
// bytes of the whole-tensor path for several thread counts: with and
// without a base, in float32 and bfloat16, with an embedding vocabulary
// mismatch, and with the flags that keep the whole-tensor path.
func TestNuSlerpRowsStreamedMatchesWhole(t *testing.T) {
	dir := tinyModels(t)
	defer func(n int64) { chunkElements = n }(chunkElements)
	chunkElements = 1000
	for _, c := range []struct{ name, yml string }{
		{"rows base", "base_model: base\nparameters: {nuslerp_flatten: false}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 0.7}\n  - model: ft2\n    parameters: {weight: 0.3}\n"},
		{"rows no base bf16", "dtype: bfloat16\nparameters: {nuslerp_flatten: false}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 1}\n  - model: ft2\n    parameters: {weight: 2}\n"},
		{"rows zero weights parallel", "parameters: {nuslerp_flatten: false}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 0}\n  - model: ft1_bf16\n    parameters: {weight: 0}\n"},
		{"rows vocab mismatch", "parameters: {nuslerp_flatten: false}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 0.4}\n  - model: bigvocab\n    parameters: {weight: 0.6}\n"},
		{"row_wise", "base_model: base\nparameters: {nuslerp_flatten: false, nuslerp_row_wise: true}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 0.7}\n  - model: ft2\n    parameters: {weight: 0.3}\n"},
		{"flatten", "models:\n  - model: ft1\n    parameters: {weight: 0.7}\n  - model: ft2\n    parameters: {weight: 0.3}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			yml := "merge_method: nuslerp\n" + c.yml
			run := func(name string, threads int) string {
				out := filepath.Join(t.TempDir(), name)
				if _, err := runYAML(t, dir, yml, out, Options{Threads: threads}); err != nil {
					t.Fatal(err)
				}
				return out
			}
			analyze := NuSlerp.Analyze
			NuSlerp.Analyze = nil
			whole := run("whole", 1)
			NuSlerp.Analyze = analyze
			for _, threads := range []int{1, 2, 3} {
				t.Run(fmt.Sprint("j", threads), func(t *testing.T) {
					sameTensors(t, whole, run("streamed", threads))
				})
			}
		})
	}
}
