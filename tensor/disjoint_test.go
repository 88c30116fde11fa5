package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// disjointChain is DisjointMergeBF16 as the calls it replaces.
func disjointChain(out []float32, x [][]float32, w, sign []float32, base []byte, normalize bool) {
	weight := make([]float32, len(out))
	clear(out)
	for i := range x {
		AddAgreeing(out, weight, x[i][:len(out)], sign[:len(out)], w[i])
	}
	Round(BF16, out)
	if normalize {
		Round(BF16, weight)
		DivNonZeroRound(BF16, out, weight)
	}
	b := make([]float32, len(out))
	if err := Decode(b, base, BF16); err != nil {
		panic(err)
	}
	Add(out, b)
}

// disjointInputs returns k weighted task vectors of n elements (bfloat16
// values, zeros and kernelFloats' specials among them), their rounded sum
// and k weights.
func disjointInputs(r *rand.Rand, k, n int) (x [][]float32, w, sign []float32) {
	sign = make([]float32, n)
	for i := range k {
		xi := kernelFloats(r, n)
		for j := range xi {
			if r.IntN(3) == 0 {
				xi[j] = 0
			}
		}
		Round(BF16, xi)
		x = append(x, xi)
		if i == 0 {
			copy(sign, xi)
		} else {
			Add(sign, xi)
		}
		w = append(w, RoundBF16(float32(r.NormFloat64())))
	}
	Round(BF16, sign)
	if n > 3 {
		sign[1], sign[2], sign[3] = 0, float32(math.Copysign(0, -1)), float32(math.NaN())
	}
	if n >= 32 {
		// A vector of signs that are not NaNs over NaN entries of either
		// sign: the kernel must not take the sign for the entries' sum.
		for j := 16; j < 32; j++ {
			sign[j] = float32(1 - 2*r.IntN(2))
			if j%2 == 0 {
				x[0][j] = math.Float32frombits(0x7fc00000 | uint32(j) | uint32(r.IntN(2))<<31)
			}
		}
	}
	return x, w, sign
}

// TestDisjointMergeBF16 checks the fused kernel's bodies (fusedImpls),
// aligned base and not, against the chain of calls it replaces, for one
// to six inputs, with and without normalize.
func TestDisjointMergeBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, n := range asmLengths {
		for k := 1; k <= 6; k++ {
			x, w, sign := disjointInputs(r, k, n)
			if k == 2 {
				w[1] = -w[0] // weight sums of exactly zero
			}
			for _, off := range []int{0, 1} {
				base := bf16Bytes(r, n, off)
				for _, normalize := range []bool{false, true} {
					want := make([]float32, n)
					disjointChain(want, x, w, sign, base, normalize)
					for _, impl := range fusedImpls {
						restore := impl.use()
						got := make([]float32, n)
						DisjointMergeBF16(got, x, w, sign, base, normalize)
						restore()
						sameOrBothNaN(t, "out", got, want)
					}
				}
			}
		}
	}
}

// TestDisjointMergeBF16Lengths checks that short operands panic.
func TestDisjointMergeBF16Lengths(t *testing.T) {
	for _, c := range []struct {
		name                  string
		out, x, w, sign, base int
	}{
		{"short x", 8, 7, 1, 8, 16},
		{"short w", 8, 8, 0, 8, 16},
		{"short sign", 8, 8, 1, 7, 16},
		{"short base", 8, 8, 1, 8, 15},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			DisjointMergeBF16(make([]float32, c.out), [][]float32{make([]float32, c.x)}, make([]float32, c.w),
				make([]float32, c.sign), make([]byte, c.base), true)
		}()
	}
}

// FuzzDisjointMergeBF16 checks the assembly against the Go reference on
// inputs, weights, signs and base read from the fuzzer's bytes.
func FuzzDisjointMergeBF16(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x3f\x00\x00\x80\xbf\x00\x00\xc0\x7f\x00\x00\x00\x80"+"0123456789abcdef0123456789abcdef"), uint8(2), true)
	f.Fuzz(func(t *testing.T, raw []byte, k uint8, normalize bool) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		k = k%5 + 1
		n := len(raw) / 4
		if n == 0 {
			return
		}
		f32 := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i%n):])) }
		x := make([][]float32, k)
		w := make([]float32, k)
		for i := range x {
			x[i] = make([]float32, n)
			for j := range x[i] {
				x[i][j] = f32(j + 7*i)
			}
			w[i] = f32(i)
		}
		sign, base := make([]float32, n), make([]uint16, n)
		for j := range n {
			sign[j] = f32(3 * j)
			base[j] = uint16(binary.LittleEndian.Uint32(raw[4*j:]) >> 16)
		}
		got, want := make([]float32, n), make([]float32, n)
		disjointMergeBF16(got, x, w, sign, base, normalize)
		disjointMergeBF16Bits(want, x, 0, w, sign, base, normalize)
		sameOrBothNaN(t, "out", got, want)
	})
}
