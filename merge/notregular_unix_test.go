//go:build unix

package merge

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNotRegularInputs: a FIFO in the place of a model's config, weights
// or tokenizer files, or of the config itself, fails the merge naming the
// file instead of blocking it in open. A hang is the failure.
func TestNotRegularInputs(t *testing.T) {
	const yml = "merge_method: linear\nparameters: {weight: 1}\nbase_model: base\nmodels: [{model: base}, {model: ft1}]\n"
	for _, file := range []string{"ft1/config.json", "ft1/model.safetensors", "base/tokenizer.json", "base/tokenizer_config.json", "config.yml"} {
		t.Run(file, func(t *testing.T) {
			dir := tinyModels(t)
			for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
				if err := os.WriteFile(filepath.Join(dir, "base", name), []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, file)
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skip(err)
			}
			var err error
			if file == "config.yml" {
				_, err = LoadConfig(p)
			} else {
				_, err = runYAML(t, dir, yml, filepath.Join(t.TempDir(), "out"), Options{})
			}
			if err == nil || !strings.Contains(err.Error(), p+": not a regular file") {
				t.Errorf("err = %v, want %s: not a regular file", err, p)
			}
		})
	}
}
