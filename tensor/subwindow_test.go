package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSubCountAboveWindowBF16 checks the fused kernel, generic, AVX2 and
// AVX-512, aligned and not, against the chain of calls it replaces, for
// windows of one to seven bfloat16 values around the data's magnitudes,
// at the ends of the range and beyond what the SIMD body counts, adding
// to counters that are not zero.
func TestSubCountAboveWindowBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	mid := math.Float32bits(0.02) &^ 0xffff
	windows := [][2]uint32{
		{mid, mid}, {mid - 2<<16, mid + 2<<16}, {mid - 1<<16, mid + 3<<16}, {mid - 3<<16, mid + 3<<16},
		{0, 4 << 16}, {0x7f800000 - 4<<16, 0x7f800000}, {0x7fff0000 - 2<<16, 0x7fff0000},
		{mid + 1, mid + 2<<16 + 5}, {0x80000000, 0x80020000},
	}
	for _, n := range asmLengths {
		for _, off := range []int{0, 1} {
			a, b := bf16Bytes(r, n, off), bf16Bytes(r, n, off)
			for j := 0; j < n; j += 7 { // some task vectors in the window
				binary.LittleEndian.PutUint16(b[2*j:], 0)
			}
			for _, w := range windows {
				win0 := make([]uint32, (w[1]-w[0])>>16+2)
				for s := range win0 {
					win0[s] = uint32(3 * s)
				}
				d := make([]float32, n)
				want := slices.Clone(win0)
				SubBF16Bytes(d, a, b)
				wantAbove := CountAboveWindowShift(want, d, w[0], w[1], 16)
				for _, impl := range fusedImpls {
					restore := impl.use()
					got := slices.Clone(win0)
					above := SubCountAboveWindowBF16(got, a, b, w[0], w[1])
					restore()
					if above != wantAbove || !slices.Equal(got, want) {
						t.Fatalf("%s n %d off %d window %#x: %d %v, want %d %v", impl.name, n, off, w, above, got, wantAbove, want)
					}
				}
			}
		}
	}
}

// TestSubCountAboveWindowBF16Panics checks the argument checks.
func TestSubCountAboveWindowBF16Panics(t *testing.T) {
	for _, c := range []struct {
		name   string
		win    int
		a, b   int
		lo, hi uint32
	}{
		{"lengths", 3, 4, 6, 0, 0},
		{"odd", 3, 3, 3, 0, 0},
		{"lo above hi", 3, 4, 4, 2 << 16, 1 << 16},
		{"short win", 2, 4, 4, 0, 2 << 16},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			SubCountAboveWindowBF16(make([]uint32, c.win), make([]byte, c.a), make([]byte, c.b), c.lo, c.hi)
		}()
	}
}
