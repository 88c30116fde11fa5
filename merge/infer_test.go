package merge

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/safetensors"
)

// TestInferredArchitecture merges two models whose architecture has no
// table: the planner infers one from their tensor names.
func TestInferredArchitecture(t *testing.T) {
	dir := t.TempDir()
	for i, m := range []string{"base", "ft"} {
		s := testmodel.Spec{Arch: "FooForCausalLM", ModelType: "foo", Layers: 3, Seed: 1, Delta: 0.01 * float64(i), DeltaSeed: 9, Tied: i == 1}
		testmodel.Must(t.Fatal, filepath.Join(dir, m), s)
	}
	out := filepath.Join(t.TempDir(), "out")
	yml := "merge_method: linear\nmodels: [{model: base, parameters: {weight: 1}}, {model: ft, parameters: {weight: 1}}]\n"
	if _, err := runYAML(t, dir, yml, out, Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := safetensors.OpenModel(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	in, _ := safetensors.OpenModel(filepath.Join(dir, "base"))
	defer in.Close()
	if !slices.Equal(got.Names(), in.Names()) {
		t.Errorf("output %v\nwant %v", got.Names(), in.Names())
	}
}
