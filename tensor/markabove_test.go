package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMarkAbove checks MarkAbove, with and without AVX2, against the
// per-element comparison on lengths around the mask's words, for
// thresholds that split the values, sit on one of them, or lie above every
// magnitude.
func TestMarkAbove(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 7, 8, 63, 64, 65, 128, 200, 1000, 4099} {
		x := make([]float32, n)
		for j := range x {
			x[j] = math.Float32frombits(r.Uint32())
			if j%5 == 0 {
				x[j] = 1.5
			}
		}
		for _, thr := range []uint32{0, math.Float32bits(1.5), 0x3f000000, 0x7f800000, 0x7fffffff, 1 << 31, math.MaxUint32} {
			for _, avx := range []bool{false, true} {
				saved := useAVX2
				useAVX2 = useAVX2 && avx
				mask := make([]uint64, (n+63)/64)
				for w := range mask {
					mask[w] = r.Uint64() // overwritten
				}
				MarkAbove(mask, x, thr)
				useAVX2 = saved
				for j := range (n + 63) / 64 * 64 {
					got := mask[j/64]>>(j%64)&1 == 1
					want := j < n && math.Float32bits(x[j])&^(1<<31) > thr
					if got != want {
						t.Fatalf("n %d thr %#x avx %v: bit %d = %v, want %v", n, thr, avx, j, got, want)
					}
				}
			}
		}
	}
}
