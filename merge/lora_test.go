package merge

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// TestLoRAReference merges "model+adapter" references: a passthrough of
// base+adapter must give PEFT's merge_and_unload (testdata/ref), and a
// linear merge of base+adapter with the base itself must give the halfway
// point, with the adapter read through the same streaming path.
func TestLoRAReference(t *testing.T) {
	ref, err := filepath.Abs("../testdata/ref")
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(ref, "eval/models/llama")
	for _, c := range []string{"lora_patterns", "dora", "embed"} {
		t.Run(c, func(t *testing.T) {
			adapter := filepath.Join(ref, "lora", c, "adapter")
			out := filepath.Join(t.TempDir(), "out")
			yml := "merge_method: passthrough\ndtype: float32\nmodels:\n  - model: " + base + "+" + adapter + "\n"
			if _, err := runYAML(t, t.TempDir(), yml, out, Options{}); err != nil {
				t.Fatal(err)
			}
			got, err := safetensors.OpenModel(out)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			want, err := safetensors.Open(filepath.Join(ref, "lora", c, "merged.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer want.Close()
			for _, name := range got.Names() {
				gi, _ := got.Tensor(name)
				graw := make([]byte, gi.Size)
				if err := got.ReadTensor(name, graw); err != nil {
					t.Fatal(err)
				}
				g := bytesF32(t, graw)
				info, _ := want.Tensor(name)
				raw := make([]byte, info.Size)
				if err := want.ReadTensor(name, raw); err != nil {
					t.Fatal(err)
				}
				w := bytesF32(t, raw)
				var d, mx float64
				for i := range g {
					d = max(d, math.Abs(float64(g[i]-w[i])))
					mx = max(mx, math.Abs(float64(w[i])))
				}
				if d > 1e-6*mx {
					t.Errorf("%s: max diff %.3g (max |w| %.3g)", name, d, mx)
				}
			}
		})
	}
	t.Run("missing adapter", func(t *testing.T) {
		yml := "merge_method: passthrough\nmodels:\n  - model: " + base + "+/nonexistent/adapter\n"
		_, err := runYAML(t, t.TempDir(), yml, filepath.Join(t.TempDir(), "out"), Options{})
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/adapter") {
			t.Fatalf("err = %v", err)
		}
	})
}

func bytesF32(t *testing.T, raw []byte) []float32 {
	t.Helper()
	out := make([]float32, len(raw)/4)
	if err := tensor.Decode(out, raw, tensor.F32); err != nil {
		t.Fatal(err)
	}
	return out
}
