package model

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestGoldenMergekitMoE loads the real mergekit-moe outputs in
// ../shared/golden/moe (Mixtral in the transformers-5 stacked layout, and
// Qwen2-MoE with a shared expert) and checks that every expert the forward
// pass uses is its source model's MLP, bit for bit: gate_up_proj holds each
// expert's gate rows, then its up rows. Both must score text.
func TestGoldenMergekitMoE(t *testing.T) {
	root := "../../../shared/golden"
	if _, err := os.Stat(filepath.Join(root, "moe")); err != nil {
		t.Skip("../shared/golden/moe absent")
	}
	for _, c := range []struct {
		name    string
		experts []string
		shared  string
	}{
		{"mixtral_random", []string{"ft1_f32", "ft2_f32", "ft3_f32", "base_f32"}, ""},
		{"qwen2moe_shared_random", []string{"ft1_f32", "ft2_f32"}, "base_f32"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Open(filepath.Join(root, "moe", c.name, "output"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			sources := map[string]*Model{}
			for _, s := range append(append([]string(nil), c.experts...), c.shared) {
				if s != "" && sources[s] == nil {
					if sources[s], err = Open(filepath.Join(root, "models", s), Options{}); err != nil {
						t.Fatal(err)
					}
				}
			}
			same := func(what string, a, b *matrix) {
				if a.rows != b.rows || a.cols != b.cols {
					t.Fatalf("%s: [%d %d], source [%d %d]", what, a.rows, a.cols, b.rows, b.cols)
				}
				for i := range b.f32 {
					if math.Float32bits(a.f32[i]) != math.Float32bits(b.f32[i]) {
						t.Fatalf("%s differs from its source at %d", what, i)
					}
				}
			}
			for l := range m.layers {
				y := m.layers[l].moe
				if y == nil || len(y.gate) != len(c.experts) {
					t.Fatalf("layer %d is not a sparse layer of %d experts", l, len(c.experts))
				}
				for j, s := range c.experts {
					src := &sources[s].layers[l]
					what := fmt.Sprintf("layer %d expert %d (%s)", l, j, s)
					same(what+" gate", y.gate[j], src.gate)
					same(what+" up", y.up[j], src.up)
					same(what+" down", y.down[j], src.down)
				}
				if c.shared != "" {
					src := &sources[c.shared].layers[l]
					same(fmt.Sprintf("layer %d shared gate", l), y.sGate, src.gate)
					same(fmt.Sprintf("layer %d shared up", l), y.sUp, src.up)
					same(fmt.Sprintf("layer %d shared down", l), y.sDown, src.down)
				}
			}
			lp, err := m.LogProbs([]int{1, 17, 42, 99, 3, 250, 7, 7, 64})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range lp {
				if math.IsNaN(v) || math.IsInf(v, 0) || v > 0 {
					t.Fatalf("log p %d = %v", i, v)
				}
			}
		})
	}
}
