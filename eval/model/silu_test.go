package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSiluMul checks siluMul against siluMulGeneric bit for bit, with the
// e that activateFast gives it, on lengths with and without a tail and
// on inputs of both signs, zeros, large magnitudes, infinities and NaN.
func TestSiluMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 90, -90, 200, -200,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -3.5, 3.5}
	for _, n := range []int{1, 7, 8, 9, 64, 77, 256} {
		g := make([]float32, n)
		u := make([]float32, n)
		for i := range g {
			g[i] = float32(rng.NormFloat64() * 4)
			u[i] = float32(rng.NormFloat64())
			if i%5 == 0 {
				g[i] = special[(i/5)%len(special)]
			}
		}
		e := make([]float32, n)
		for i, x := range g {
			e[i] = -abs32(x)
		}
		expStore(e, 0)
		want := append([]float32(nil), g...)
		siluMulGeneric(want, u, e)
		got := append([]float32(nil), g...)
		siluMul(got, u, e)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: silu(%v)*%v = %v, want %v", n, g[i], u[i], got[i], want[i])
			}
		}
	}
}
