package model

import (
	"fmt"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// BenchmarkWsumNarrow times attention's weighted sum over 512 keys for
// narrow heads, in registers (wsum) and as one tensor.Axpy per key (what
// wsum did for them before wsumNarrow).
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
			p[i] = 1 / float32(i+1)
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
