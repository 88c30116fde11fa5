package model

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
)

// TestHiddenStates checks HiddenStates' indexing on every family: entry 0
// is the (scaled) embedding, and the last entry run through the final norm
// and the output layer gives Logits.
func TestHiddenStates(t *testing.T) {
	ids := []int{5, 17, 3, 250, 42, 9, 9, 100}
	for _, name := range families7 {
		t.Run(name, func(t *testing.T) {
			m, err := Open(filepath.Join(refDir, "models", name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			hs, err := m.HiddenStates(ids)
			if err != nil {
				t.Fatal(err)
			}
			H := m.cfg.hidden
			if len(hs) != m.cfg.layers+1 {
				t.Fatalf("%d hidden states for %d layers", len(hs), m.cfg.layers)
			}
			for l, h := range hs {
				if len(h) != len(ids)*H {
					t.Fatalf("hidden state %d has %d values, want %d", l, len(h), len(ids)*H)
				}
			}
			scale := float32(1)
			if m.cfg.embScale {
				scale = float32(math.Sqrt(float64(H)))
			}
			for i, id := range ids {
				for j := range H {
					if want := m.embed.f32[id*H+j] * scale; hs[0][i*H+j] != want {
						t.Fatalf("hidden state 0, token %d, dim %d: %g, want the embedding %g", i, j, hs[0][i*H+j], want)
					}
				}
			}
			if relErr(hs[1], hs[0]) == 0 {
				t.Fatal("hidden state 1 equals the embedding: layer 0 did nothing")
			}
			last := append([]float32(nil), hs[len(hs)-1]...)
			rmsNorm(last, last, m.norm, m.cfg.eps)
			got := make([]float32, len(ids)*m.cfg.vocab)
			m.logitsOf(got, last, 0, len(ids))
			want, err := m.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("logit %d from the last hidden state: %g, Logits gives %g", i, got[i], want[i])
				}
			}
		})
	}
	m, err := Open(filepath.Join(refDir, "models", "llama"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]int{nil, {1, -1}, {320}} {
		if _, err := m.HiddenStates(bad); !errors.Is(err, ErrToken) {
			t.Errorf("HiddenStates(%v): error %v, want ErrToken", bad, err)
		}
	}
}
