package tensor

import "math"

// KeepBitsScaleRound is KeepBits followed by ScaleRound, in one pass for
// work BF16:
//
//	KeepBits(x, mask)
//	ScaleRound(work, x, a)
//
// mask must hold at least len(x) bits.
func KeepBitsScaleRound(work DType, x []float32, mask []uint64, a float32) {
	if len(x) == 0 {
		return
	}
	_ = mask[(len(x)-1)>>6] // holds len(x) bits
	if work != BF16 {
		keepBits(x, mask)
		ScaleRound(work, x, a)
		return
	}
	keepBitsScaleRoundBF16(x, mask, a)
}

// keepBitsScaleRoundBF16Generic is keepBitsGeneric, then the rounding of
// scaleRoundBF16Generic, element by element; element j's bit is bit from+j.
func keepBitsScaleRoundBF16Generic(x []float32, mask []uint64, from int, a float32) {
	for j := range x {
		b := uint(from + j)
		k := uint32(mask[b/64] >> (b % 64) & 1)
		x[j] = roundBF16Scalar(math.Float32frombits(math.Float32bits(x[j])&-k) * a)
	}
}
