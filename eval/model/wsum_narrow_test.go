package model

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// BenchmarkWsumNarrow times attention's weighted sum over 512 keys with
// softmax-like weights for narrow heads, in registers (wsum) and as one
// tensor.Axpy per key (what wsum did for them before wsumNarrow).
func BenchmarkWsumNarrow(b *testing.B) {
	const keys = 512
	for _, hd := range []int{4, 8} {
		stride := 4 * hd
		v := make([]float32, keys*stride)
		p := make([]float32, keys)
		for i := range v {
			v[i] = float32(i%7) - 3
		}
		for i := range p {
			// Softmax-like: from about key 350 on the weights are subnormal,
			// then zero.
			p[i] = float32(math.Exp(-float64(i) / 4))
		}
		acc := make([]float32, hd)
		b.Run(fmt.Sprintf("hd%d/registers", hd), func(b *testing.B) {
			for b.Loop() {
				wsum(acc, p, v, stride)
			}
		})
		b.Run(fmt.Sprintf("hd%d/axpy", hd), func(b *testing.B) {
			for b.Loop() {
				clear(acc)
				for j, w := range p {
					tensor.Axpy(acc, w, v[j*stride:j*stride+hd])
				}
			}
		})
	}
}

// Subnormal and zero weights (what a softmax over many keys leaves far
// from its maximum) are skipped by wsumNarrow; the sum still matches
// float64 to within the smallest normal float32 per term.
func TestWsumNarrowSubnormalWeights(t *testing.T) {
	for _, hd := range []int{2, 4, 8} {
		stride := hd + 1
		p := []float32{0.5, 1e-40, 0, -1e-39, 0.25, 0x1p-126, -0.125}
		v := make([]float32, (len(p)-1)*stride+hd)
		for i := range v {
			v[i] = float32(i%5) - 2.5
		}
		acc := make([]float32, hd)
		wsum(acc, p, v, stride)
		for d := range hd {
			var want float64
			for j := range p {
				want += float64(p[j]) * float64(v[j*stride+d])
			}
			if diff := float64(acc[d]) - want; diff > 1e-6 || diff < -1e-6 {
				t.Errorf("hd %d: acc[%d] = %v, want %v", hd, d, acc[d], want)
			}
		}
	}
}
