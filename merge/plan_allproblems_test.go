package merge

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/internal/testmodel"
)

// A plan stopped by a bad layer range or a tokenizer source it cannot
// find still reports every other problem of the config, each with its
// line, and suggests the config's model a bare tokenizer source name
// probably means.
func TestPlanReportsEveryProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	a := testmodel.Must(t.Fatal, filepath.Join(dir, "ftA"), testmodel.Spec{Layers: 2, Seed: 1})
	b := testmodel.Must(t.Fatal, filepath.Join(dir, "ftB"), testmodel.Spec{Layers: 2, Seed: 2})
	offline := &hub.Client{Offline: true, CacheDir: t.TempDir()}
	tests := []struct {
		name, yaml string
		want       []string
	}{{
		name: "slices",
		yaml: `merge_method: slerp
base_model: ` + a + `
slices:
  - sources:
      - model: ` + a + `
        layer_range: [0, 4]
      - model: ` + b + `
        layer_range: [0, 1]
  - sources:
      - model: ` + a + `
        layer_range: [0, 2]
      - model: ` + b + `
        layer_range: [0, 3]
parameters:
  t: 0.5
dtype: float32
tokenizer_source: ftB
`,
		want: []string{":5:", "[0, 4]", ":7:", "same number of layers", ":12:", "[0, 3]", ":17:", `did you mean "` + b + `"`},
	}, {
		name: "models",
		yaml: `merge_method: ties
base_model: ` + a + `
models:
  - model: ` + b + `
    parameters:
      weigth: 0.5
      densty: 0.5
dtype: float32
tokenizer_source: ftA
`,
		want: []string{":6:", `"weigth"`, ":7:", `"densty"`, ":9:", "tokenizer of base model"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yaml), "c.yml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(cfg, PlanOptions{Hub: offline})
			if err == nil {
				p.Close()
				t.Fatal("plan accepted the config")
			}
			msg := err.Error()
			last := -1
			for _, w := range tt.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("error lacks %q:\n%s", w, msg)
				}
				if strings.HasPrefix(w, ":") && i < last {
					t.Errorf("%q is not in line order:\n%s", w, msg)
				}
				if strings.HasPrefix(w, ":") {
					last = i
				}
			}
		})
	}
}
