package model

import (
	"math"
	"path/filepath"
	"testing"
)

// TestAttentionTiles checks that attention over tiles of queries gives
// the same bits as query by query, for every family (16- and 32-wide
// heads, sliding windows of 12 on gemma2 and gemma3), on a whole
// sequence and on new tokens fed after a cached prefix longer than the
// window, where a tile's queries start at different keys.
func TestAttentionTiles(t *testing.T) {
	for _, name := range families7 {
		t.Run(name, func(t *testing.T) {
			ref := refTensors(t, filepath.Join(refDir, name+".safetensors"))
			ids := toInts(ref["input_ids"])
			m, err := Open(filepath.Join(refDir, "models", name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			run := func(tile int) ([]float32, [][]float64) {
				saved := maxTile
				maxTile = tile
				defer func() { maxTile = saved }()
				logits, err := m.Logits(ids)
				if err != nil {
					t.Fatal(err)
				}
				conts := [][]int{ids[20:27], ids[3:4], ids[:13]}
				lp, err := m.ContinuationLogProbs(ids[:19], conts)
				if err != nil {
					t.Fatal(err)
				}
				return logits, lp
			}
			l1, c1 := run(1)
			l4, c4 := run(4)
			for i := range l1 {
				if math.Float32bits(l1[i]) != math.Float32bits(l4[i]) {
					t.Fatalf("logit %d: %v tiled, %v query by query", i, l4[i], l1[i])
				}
			}
			for s := range c1 {
				for i := range c1[s] {
					if c1[s][i] != c4[s][i] {
						t.Fatalf("continuation %d token %d: %v tiled, %v query by query", s, i, c4[s][i], c1[s][i])
					}
				}
			}
		})
	}
}
