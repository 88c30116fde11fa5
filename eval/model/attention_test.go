package model

import (
	"fmt"
	"math"
	"math/rand/v2"
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

// BenchmarkAttention times one layer's attention as a Belebele 5-shot
// question in a session runs it on the 19 M Llama of bench/README.md: 173
// new tokens after a 1,600-token cached prefix, 16 heads of 16, on one
// thread; tile=1 weighs value rows query by query (what attention did
// before wsumTile), tile=4 in tiles of four queries.
func BenchmarkAttention(b *testing.B) {
	const prefix, news, heads, hd = 1600, 173, 16, 16
	m := &Model{cfg: &config{layers: 1, heads: heads, kvHeads: heads, headDim: hd,
		sliding: []bool{false}, scaling: 0.25}, threads: 1}
	rng := rand.New(rand.NewPCG(5, 6))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	dim := heads * hd
	c := m.newCache()
	c.k[0], c.v[0] = fill((prefix+news)*dim), fill((prefix+news)*dim)
	c.pos = prefix
	segs := []seg{{ids: make([]int, news), c: c}}
	q, a := fill(news*dim), make([]float32, news*dim)
	for _, tile := range []int{1, 4} {
		b.Run(fmt.Sprintf("tile=%d", tile), func(b *testing.B) {
			if tile > 1 && tileQueries(hd) == 1 {
				b.Skip("no tiled kernel on this machine")
			}
			saved := maxTile
			maxTile = tile
			defer func() { maxTile = saved }()
			for b.Loop() {
				m.attention(0, segs, q, a)
			}
			pairs := heads * news * (prefix + (news+1)/2)
			b.ReportMetric(float64(pairs*b.N)/b.Elapsed().Seconds()/1e9, "Gpairs/s")
		})
	}
}
