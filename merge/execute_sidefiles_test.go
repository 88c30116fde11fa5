package merge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSideFilesBesideTensors checks the side files, now written while the
// tensors merge: extra files land in the output with the tensors, and a
// side file that fails stops the merge and leaves nothing behind, on one
// and two threads.
func TestSideFilesBesideTensors(t *testing.T) {
	dir := tinyModels(t)
	yml := "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 0.5}\n  - model: ft1\n    parameters: {weight: 0.5}\n"
	for _, threads := range []int{1, 2} {
		parent := t.TempDir()
		out := filepath.Join(parent, "out")
		_, err := runYAML(t, dir, yml, out, Options{Threads: threads, ExtraFiles: map[string][]byte{"scores.json": []byte("{}")}})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"model.safetensors", "config.json", "README.md", "scores.json"} {
			if _, err := os.Stat(filepath.Join(out, name)); err != nil {
				t.Errorf("-j %d: %v", threads, err)
			}
		}

		parent = t.TempDir()
		out = filepath.Join(parent, "out")
		_, err = runYAML(t, dir, yml, out, Options{Threads: threads, ExtraFiles: map[string][]byte{"../escape": []byte("x")}})
		if err == nil || !strings.Contains(err.Error(), "plain file name") {
			t.Fatalf("-j %d: err = %v, want a refused extra file", threads, err)
		}
		if left, _ := os.ReadDir(parent); len(left) != 0 {
			t.Errorf("-j %d: a failed merge left %v", threads, left)
		}
	}
}
