package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomBits returns a mask of n bits, about one in three set, or all
// set or all clear for some n.
func randomBits(r *rand.Rand, n int) []uint64 {
	bits := make([]uint64, (n+63)/64+1) // a word more than needed: it must not matter
	for i := range bits {
		switch n % 5 {
		case 0:
			bits[i] = ^uint64(0)
		case 1:
		default:
			bits[i] = r.Uint64()&r.Uint64() | r.Uint64()&r.Uint64()&r.Uint64()
		}
	}
	return bits
}

// TestKeepBitsScaleRoundBF16 checks the assembly of KeepBitsScaleRound
// (BF16) against its Go reference on odd lengths, misaligned slices and
// special values.
func TestKeepBitsScaleRoundBF16(t *testing.T) {
	withAsm(t)
	r := rand.New(rand.NewPCG(31, 32))
	for _, n := range asmLengths {
		x := shifted(kernelFloats(r, n), n%8)
		bits := randomBits(r, n)
		a := float32(r.NormFloat64())
		if n%7 == 0 {
			a = float32(math.Inf(1)) // dropped elements become 0·Inf: NaN, as in the chain
		}
		compareWith(t, "keepBitsScaleRoundBF16", x, guardVal, func(d []float32) { keepBitsScaleRoundBF16(d, bits, a) },
			func(d []float32) { keepBitsScaleRoundBF16Generic(d, bits, 0, a) }, nanPair(x, []float32{a}))
	}
}

// TestKeepBitsScaleRound checks the fused call against KeepBits followed
// by ScaleRound for every working dtype, bit for bit.
func TestKeepBitsScaleRound(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	for _, work := range arithDTypes {
		for _, n := range []int{0, 1, 7, 8, 9, 64, 65, 1000} {
			x := kernelFloats(r, n)
			bits := randomBits(r, n)
			a := float32(r.NormFloat64())
			compareKernel(t, "KeepBitsScaleRound "+work.String(), x, guardVal,
				func(d []float32) { KeepBitsScaleRound(work, d, bits, a) },
				func(d []float32) { KeepBits(d, bits); ScaleRound(work, d, a) })
		}
	}
}

// TestKeepBitsScaleRoundShortMask checks that a mask with too few bits
// panics instead of reading past its end.
func TestKeepBitsScaleRoundShortMask(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("65 elements with one word of bits did not panic")
		}
	}()
	KeepBitsScaleRound(BF16, make([]float32, 65), make([]uint64, 1), 2)
}

// FuzzKeepBitsScaleRoundMatchGeneric reads float32s and mask bits from the
// input and checks the assembly of KeepBitsScaleRound (BF16) against the Go
// reference.
func FuzzKeepBitsScaleRoundMatchGeneric(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x7f\x01\x00\x80\x7f\x00\x80\x80\x3f\x00\x10\x80\x3f"+"0123456789abcdef0123456789abcdef"), float32(0.5))
	f.Fuzz(func(t *testing.T, b []byte, a float32) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		n := len(b) / 4
		x := make([]float32, n)
		bits := make([]uint64, (n+63)/64)
		for i := range n {
			x[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
			bits[i/64] |= uint64(b[(4*i+1)%len(b)]&1) << (i % 64)
		}
		compareWith(t, "keepBitsScaleRoundBF16", x, guardVal, func(d []float32) { keepBitsScaleRoundBF16(d, bits, a) },
			func(d []float32) { keepBitsScaleRoundBF16Generic(d, bits, 0, a) }, nanPair(x, []float32{a}))
	})
}
