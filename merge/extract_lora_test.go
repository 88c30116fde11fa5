package merge

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomerge/gomerge/lora"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// TestExtractLoRARoundTrip extracts an adapter from a fine-tune and applies
// it back: at full rank the fine-tune comes back within float32 error; at
// rank r the error of each matrix is what the Eckart–Young theorem allows,
// ‖Δ − BA‖² = ‖Δ‖² − ‖BA‖².
func TestExtractLoRARoundTrip(t *testing.T) {
	golden, _ := filepath.Abs("../testdata/golden/models")
	base, ftDir := filepath.Join(golden, "base_f32"), filepath.Join(golden, "ft1_f32")
	for _, c := range []struct {
		name    string
		maxRank int
		embed   bool
	}{{"full", 128, false}, {"rank4", 4, false}, {"embed", 128, true}} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "adapter")
			res, err := ExtractLoRA(context.Background(), out, ExtractOptions{
				Model: ftDir, BaseModel: base, MaxRank: c.maxRank, DistributeScale: !c.embed, EmbedLoRA: c.embed, Threads: 2,
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.maxRank == 4 && res.Rank != 4 {
				t.Fatalf("rank %d, want 4", res.Rank)
			}
			var cfg map[string]any
			raw, err := os.ReadFile(filepath.Join(out, "adapter_config.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			toSave := cfg["modules_to_save"].([]any)
			for _, want := range []string{"embed_tokens", "lm_head", "input_layernorm", "norm"} {
				if c.embed && (want == "embed_tokens" || want == "lm_head") {
					if slices.Contains(toSave, any(want)) {
						t.Errorf("--embed-lora saved %s whole", want)
					}
					continue
				}
				if !slices.Contains(toSave, any(want)) {
					t.Errorf("modules_to_save %v lacks %s", toSave, want)
				}
			}
			bm, err := safetensors.OpenModel(base)
			if err != nil {
				t.Fatal(err)
			}
			a, err := lora.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			m, err := lora.Apply(bm, a)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			fm, err := safetensors.OpenModel(ftDir)
			if err != nil {
				t.Fatal(err)
			}
			defer fm.Close()
			checked := 0
			for _, name := range fm.Names() {
				got := floats(t, m, name)
				want := floats(t, fm, name)
				orig := floats(t, bm, name)
				var errSq, deltaSq, lowSq float64
				for i := range got {
					errSq += sq(float64(want[i]) - float64(got[i]))
					deltaSq += sq(float64(want[i]) - float64(orig[i]))
					lowSq += sq(float64(got[i]) - float64(orig[i]))
				}
				if _, adapted := a.Modules[name]; !adapted {
					if errSq != 0 {
						t.Errorf("%s: saved whole but differs (%.3g)", name, errSq)
					}
					continue
				}
				checked++
				if c.maxRank >= 64 {
					if math.Sqrt(errSq) > 1e-5*math.Sqrt(deltaSq) {
						t.Errorf("%s: full-rank error %.3g of ‖Δ‖ %.3g", name, math.Sqrt(errSq), math.Sqrt(deltaSq))
					}
				} else if d := math.Abs(errSq - (deltaSq - lowSq)); d > 1e-4*deltaSq {
					t.Errorf("%s: ‖Δ−BA‖² = %.6g, ‖Δ‖²−‖BA‖² = %.6g", name, errSq, deltaSq-lowSq)
				} else if errSq <= 1e-6*deltaSq {
					t.Errorf("%s: rank 4 reproduced Δ exactly; the test model is too simple", name)
				}
			}
			want := 4 * 7
			if c.embed {
				want += 2
				if _, ok := a.Tensor("base_model.model.model.embed_tokens.lora_embedding_A"); !ok {
					t.Error("no lora_embedding_A for embed_tokens")
				}
			}
			if checked != want {
				t.Errorf("checked %d decomposed matrices, want %d", checked, want)
			}
		})
	}
}

func sq(x float64) float64 { return x * x }

func floats(t *testing.T, s safetensors.Source, name string) []float32 {
	t.Helper()
	info, ok := s.Tensor(name)
	if !ok {
		t.Fatalf("no tensor %s", name)
	}
	raw := make([]byte, info.Size)
	if err := s.ReadTensorRange(name, 0, raw); err != nil {
		t.Fatal(err)
	}
	dt, _ := tensor.ParseDType(string(info.DType))
	out := make([]float32, info.NumElements())
	if err := tensor.Decode(out, raw, dt); err != nil {
		t.Fatal(err)
	}
	return out
}
