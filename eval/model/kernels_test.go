package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDot2x4 compares dot2x4 (assembly where available) and its Go
// reference with float64 dot products on odd lengths and strides.
func TestDot2x4(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 48, 63, 64, 100, 768, 1001} {
		for _, extra := range []int{0, 5} {
			ws := n + extra
			x0 := make([]float32, n+1)
			x1 := make([]float32, n+3)
			w := make([]float32, 3*ws+n)
			for _, s := range [][]float32{x0, x1, w} {
				for i := range s {
					s[i] = float32(rng.NormFloat64())
				}
			}
			x0, x1 = x0[1:], x1[3:] // unaligned
			var scale float64
			want := [8]float64{}
			for r := range 4 {
				for i := range n {
					want[2*r] += float64(x0[i]) * float64(w[r*ws+i])
					want[2*r+1] += float64(x1[i]) * float64(w[r*ws+i])
					scale += math.Abs(float64(x0[i])*float64(w[r*ws+i])) + math.Abs(float64(x1[i])*float64(w[r*ws+i]))
				}
			}
			for _, fast := range []bool{true, false} {
				saved := useFMA
				useFMA = useFMA && fast
				var got [8]float32
				dot2x4(&got, x0, x1, w, ws, n)
				useFMA = saved
				for k := range 8 {
					if d := math.Abs(float64(got[k]) - want[k]); d > 1e-6*scale {
						t.Errorf("n %d stride %d fast %v: out[%d] = %v, want %v", n, ws, fast, k, got[k], want[k])
					}
				}
			}
		}
	}
}
