package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSubBF16 checks the fused kernel's bodies (fusedImpls), against
// decoding both inputs and calling SubRound, on random bfloat16 bit
// patterns (NaNs, infinities, zeros and subnormals included) and every
// length up to 70 plus long ones. Where both inputs are NaN only a NaN is
// required: which payload wins is the hardware's choice.
func TestSubBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	special := []uint16{0, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffc1, 0x0001, 0x8001, 0x7f7f, 0x3f80}
	lengths := []int{1000, 4099}
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		a, b := make([]uint16, n), make([]uint16, n)
		for i := range a {
			a[i], b[i] = uint16(r.Uint32()), uint16(r.Uint32())
			if n%3 == 2 {
				// Near and below the smallest normal: denormal differences.
				a[i], b[i] = uint16(r.IntN(0x180))|uint16(r.IntN(2))<<15, uint16(r.IntN(0x180))
			}
			if r.IntN(4) == 0 {
				a[i] = special[r.IntN(len(special))]
			}
			if r.IntN(4) == 0 {
				b[i] = special[r.IntN(len(special))]
			}
		}
		want := make([]float32, n)
		da, db := make([]float32, n), make([]float32, n)
		decodeBF16Generic(da, a)
		decodeBF16Generic(db, b)
		subGeneric(want, da, db)
		roundBF16Generic(want)
		for _, impl := range fusedImpls {
			restore := impl.use()
			got := make([]float32, n)
			SubBF16(got, a, b)
			restore()
			for i := range got {
				g, w := math.Float32bits(got[i]), math.Float32bits(want[i])
				bothNaN := math.IsNaN(float64(da[i])) && math.IsNaN(float64(db[i]))
				if g != w && !(bothNaN && math.IsNaN(float64(got[i]))) {
					t.Fatalf("n %d %s: [%d] %#04x - %#04x = %#08x, want %#08x", n, impl.name, i, a[i], b[i], g, w)
				}
			}
		}
	}
}

// TestSubBF16Bytes checks the byte form, aligned and not.
func TestSubBF16Bytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 1000
	raw := make([]byte, 4*n+2)
	for i := range raw {
		raw[i] = byte(r.Uint32())
		if i%2 == 1 {
			raw[i] &= 0x7e // no NaNs: payload choice is not the point here
		}
	}
	for _, shift := range []int{0, 1} {
		a, b := raw[shift:shift+2*n], raw[shift+2*n:shift+4*n]
		want := make([]float32, n)
		da := make([]float32, n)
		if err := Decode(want, a, BF16); err != nil {
			t.Fatal(err)
		}
		if err := Decode(da, b, BF16); err != nil {
			t.Fatal(err)
		}
		SubRound(BF16, want, want, da)
		got := make([]float32, n)
		SubBF16Bytes(got, a, b)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("shift %d: [%d] = %v, want %v", shift, i, got[i], want[i])
			}
		}
	}
}
