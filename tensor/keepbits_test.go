package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKeepBits checks KeepBits, with and without AVX2, against the
// per-element loop on lengths around the mask's words, with all-set,
// all-clear and random masks.
func TestKeepBits(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 200, 1000, 4099} {
		x0 := make([]float32, n)
		for j := range x0 {
			x0[j] = math.Float32frombits(r.Uint32())
		}
		for _, fill := range []string{"set", "clear", "random"} {
			mask := make([]uint64, (n+63)/64)
			for w := range mask {
				switch fill {
				case "set":
					mask[w] = math.MaxUint64
				case "random":
					mask[w] = r.Uint64()
				}
			}
			want := slices.Clone(x0)
			for j := range want {
				if mask[j/64]&(1<<(j%64)) == 0 {
					want[j] = 0
				}
			}
			for _, avx := range []bool{false, true} {
				saved := useAVX2
				useAVX2 = useAVX2 && avx
				got := slices.Clone(x0)
				KeepBits(got, mask)
				useAVX2 = saved
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						t.Fatalf("n %d %s avx %v: [%d] = %#08x, want %#08x", n, fill, avx, j,
							math.Float32bits(got[j]), math.Float32bits(want[j]))
					}
				}
			}
		}
	}
}
