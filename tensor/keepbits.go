package tensor

import (
	"fmt"
	"math"
)

// KeepBits zeroes the elements of x whose bit in the mask bits is clear,
// element j's bit being bit j%64 of bits[j/64] (a mask kept as bits, as
// della keeps its drop masks between passes):
//
//	for j := range x {
//		if bits[j/64]>>(j%64)&1 == 0 {
//			x[j] = 0
//		}
//	}
//
// A zeroed element is +0 whatever its sign. bits must hold len(x) bits.
func KeepBits(x []float32, bits []uint64) {
	mustHoldBits("KeepBits", len(x), len(bits))
	keepBits(x, bits)
}

// KeepBitsScaleRound is KeepBits followed by ScaleRound, in one pass for
// work BF16:
//
//	KeepBits(x, bits)
//	ScaleRound(work, x, a)
func KeepBitsScaleRound(work DType, x []float32, bits []uint64, a float32) {
	mustHoldBits("KeepBitsScaleRound", len(x), len(bits))
	if work != BF16 {
		keepBits(x, bits)
		ScaleRound(work, x, a)
		return
	}
	keepBitsScaleRoundBF16(x, bits, a)
}

func mustHoldBits(name string, n, words int) {
	if words < (n+63)/64 {
		panic(fmt.Sprintf("tensor.%s: %d elements, %d words of bits", name, n, words))
	}
}

// keepBitsGeneric is KeepBits with element j's bit at from+j.
func keepBitsGeneric(x []float32, bits []uint64, from int) {
	for j := range x {
		b := uint(from + j)
		k := uint32(bits[b/64] >> (b % 64) & 1)
		x[j] = math.Float32frombits(math.Float32bits(x[j]) & -k)
	}
}

// keepBitsScaleRoundBF16Generic is keepBitsGeneric, then the rounding of
// scaleRoundBF16Generic, element by element.
func keepBitsScaleRoundBF16Generic(x []float32, bits []uint64, from int, a float32) {
	for j := range x {
		b := uint(from + j)
		k := uint32(bits[b/64] >> (b % 64) & 1)
		x[j] = roundBF16Scalar(math.Float32frombits(math.Float32bits(x[j])&-k) * a)
	}
}
