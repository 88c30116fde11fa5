package model

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

const refMoEDir = "../../testdata/ref/moe"

var moeRefCases = []string{"mixtral_legacy", "mixtral_fused", "qwen2_moe", "qwen3_moe", "deepseek"}

// TestReferenceMoE compares the logits and the routing of the tiny random
// mixtures of experts in testdata/ref/moe with those tools/refgen/moe_ref.py
// computed (a float64 torch transcription of transformers' forward passes),
// with the weights widened at load and kept in 16 bits, one sequence at a
// time and batched.
func TestReferenceMoE(t *testing.T) {
	for _, name := range moeRefCases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(refMoEDir, name)
			if _, err := os.Stat(dir); err != nil {
				t.Skipf("no reference data: %v", err)
			}
			ref := refTensors(t, filepath.Join(dir, "ref.safetensors"))
			var seqs [][]int
			for s := 0; ref[fmt.Sprintf("ids_%d", s)] != nil; s++ {
				seqs = append(seqs, toInts(ref[fmt.Sprintf("ids_%d", s)]))
			}
			for _, compact := range []bool{false, true} {
				m, err := Open(dir, Options{Compact: compact})
				if err != nil {
					t.Fatal(err)
				}
				if m.cfg.moe == nil {
					t.Fatal("not loaded as a mixture of experts")
				}
				batch, err := m.LogitsBatch(seqs)
				if err != nil {
					t.Fatal(err)
				}
				for s, ids := range seqs {
					got, err := m.Logits(ids)
					if err != nil {
						t.Fatal(err)
					}
					want := ref[fmt.Sprintf("logits_%d", s)]
					e, eb := relErr(got, want), relErr(batch[s], want)
					t.Logf("%s compact %v sequence %d: logits relative error %.3g (batched %.3g)", name, compact, s, e, eb)
					if e > tol || eb > tol {
						t.Errorf("compact %v sequence %d: relative error %.3g, batched %.3g > %g", compact, s, e, eb, tol)
					}
				}
				// The key/value cache and a shared context see the same experts.
				s0 := seqs[0]
				cont, err := m.ContinuationLogProbs(s0[:10], [][]int{s0[10:], seqs[1]})
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range [][]int{s0[10:], seqs[1]} {
					full, _ := m.LogProbs(append(append([]int(nil), s0[:10]...), c...))
					for j := range c {
						if d := math.Abs(cont[i][j] - full[9+j]); d > 1e-5 {
							t.Fatalf("continuation %d position %d: %v, LogProbs %v", i, j, cont[i][j], full[9+j])
						}
					}
				}
				routes, err := m.Route(seqs[0])
				if err != nil {
					t.Fatal(err)
				}
				checked := 0
				for _, lr := range routes {
					ex, wt := ref[fmt.Sprintf("experts_%d", lr.Layer)], ref[fmt.Sprintf("weights_%d", lr.Layer)]
					if ex == nil {
						t.Fatalf("layer %d is sparse here but not in the reference", lr.Layer)
					}
					checked++
					_, k := m.NumExperts()
					for tok := range seqs[0] {
						for i := range k {
							if lr.Experts[tok][i] != int(ex[tok*k+i]) {
								t.Fatalf("layer %d token %d: experts %v, reference %v", lr.Layer, tok, lr.Experts[tok], ex[tok*k:(tok+1)*k])
							}
							if d := math.Abs(float64(lr.Weights[tok][i] - wt[tok*k+i])); d > 1e-5 {
								t.Errorf("layer %d token %d: weights %v, reference %v", lr.Layer, tok, lr.Weights[tok], wt[tok*k:(tok+1)*k])
							}
						}
					}
				}
				for key := range ref {
					var l int
					if _, err := fmt.Sscanf(key, "experts_%d", &l); err == nil {
						checked--
					}
				}
				if checked != 0 {
					t.Errorf("Route reports %d sparse layers, the reference has a different number", len(routes))
				}
			}
		})
	}
}
