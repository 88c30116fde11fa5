//go:build amd64 && gc && !purego

package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDivRoundAVX512MatchAVX2 holds the AVX-512 bodies of nuslerp's fused
// kernels to their AVX2 ones bit for bit, NaN payloads included (same
// instructions, same operand orders), on noise and special values.
func TestDivRoundAVX512MatchAVX2(t *testing.T) {
	if !useAVX2 || !useAVX512 {
		t.Skip("no AVX-512 on this host")
	}
	r := rand.New(rand.NewPCG(81, 82))
	scalars := []float32{0.37, -1.5, 0, float32(math.Inf(1)), math.Float32frombits(0x7fc01234), 3e-39}
	for _, n := range []int{0, 16, 32, 160} {
		a, b, base := kernelFloats(r, n), kernelFloats(r, n), kernelFloats(r, n)
		for _, s := range scalars {
			for _, c := range []struct {
				name       string
				wide, avx2 func(dst []float32)
			}{
				{"divMulRound",
					func(d []float32) { divMulRoundBF16AVX512(d, a, b, s, 0.53) },
					func(d []float32) { divMulRoundBF16AVX2(d, a, b, s, 0.53) }},
				{"combineDivRound",
					func(d []float32) { combineDivRoundBF16AVX512(d, a, b, nil, s, -0.75, 1.25) },
					func(d []float32) { combineDivRoundBF16AVX2(d, a, b, nil, s, -0.75, 1.25) }},
				{"combineDivRound with base",
					func(d []float32) { combineDivRoundBF16AVX512(d, a, b, base, 0.5, s, 0.75) },
					func(d []float32) { combineDivRoundBF16AVX2(d, a, b, base, 0.5, s, 0.75) }},
				{"combineDivRound by zero",
					func(d []float32) { combineDivRoundBF16AVX512(d, a, b, base, s, 0.25, 0) },
					func(d []float32) { combineDivRoundBF16AVX2(d, a, b, base, s, 0.25, 0) }},
			} {
				got, want := make([]float32, n), make([]float32, n)
				c.wide(got)
				c.avx2(want)
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						t.Fatalf("%s n %d s %v: [%d] = %#08x, want %#08x", c.name, n, s, j, math.Float32bits(got[j]), math.Float32bits(want[j]))
					}
				}
			}
		}
	}
}
