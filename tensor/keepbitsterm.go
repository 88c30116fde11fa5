package tensor

import "math"

// SubKeepBitsScaleBF16 is SubKeepScaleBF16 for DELLA: the task vector
// a − b is pruned by the bits of mask (element j is kept when bit j of
// mask, bit j%64 of word j/64, is set) instead of by random draws, then
// rescaled by f and weighted by w, in one pass:
//
//	for j := range dst {
//		d := roundBF16(a[j] − b[j])           // SubBF16Bytes
//		if bit j of mask is clear {
//			d = 0                                 // KeepBits: the bits cleared
//		}
//		if f != 0 {
//			d = roundBF16(d·f)                // KeepBitsScaleRound(BF16, …, f)
//		}
//		d = roundBF16(d·w)                    // ScaleRound(BF16, …, w)
//		dst[j] = d
//		sum[j] = s + d                        // as SubPruneScaleBF16
//	}
//
// It gives the bits of SubBF16Bytes, KeepBits (f = ±0) or
// KeepBitsScaleRound(BF16, …, f), ScaleRound(BF16, …, w), and Add (Round
// of the sum when last) called in turn. It panics if a or b does not hold
// 2·len(dst) bytes, sum is shorter than dst or mask holds fewer than
// len(dst) bits.
func SubKeepBitsScaleBF16(dst, sum []float32, a, b []byte, mask []uint64, f, w float32, first, last bool) {
	mustSameLen("SubKeepBitsScaleBF16", 2*len(dst), len(a))
	mustSameLen("SubKeepBitsScaleBF16", 2*len(dst), len(b))
	if len(dst) == 0 {
		return
	}
	sum = sum[:len(dst)]
	_ = mask[(len(dst)-1)>>6] // holds len(dst) bits
	va, okA := view16(a)
	vb, okB := view16(b)
	if okA && okB {
		subKeepBitsScaleBF16(dst, sum, va, vb, mask, f, w, first, last)
		return
	}
	// Unaligned or big-endian: the task vector first, then the rest.
	SubBF16Bytes(dst, a, b)
	keepBitsScaleSumBF16Generic(dst, sum, mask, 0, f, w, first, last)
}

// subKeepBitsScaleBF16Generic is SubKeepBitsScaleBF16 on aligned inputs;
// element j's bit is bit from+j of mask.
func subKeepBitsScaleBF16Generic(dst, sum []float32, a, b []uint16, mask []uint64, from int, f, w float32, first, last bool) {
	subBF16Generic(dst, a, b)
	keepBitsScaleSumBF16Generic(dst, sum, mask, from, f, w, first, last)
}

// keepBitsScaleSumBF16Generic is SubKeepBitsScaleBF16 after the
// subtraction, on the task vector in dst; element j's bit is bit from+j of
// mask.
func keepBitsScaleSumBF16Generic(dst, sum []float32, mask []uint64, from int, f, w float32, first, last bool) {
	for j, d := range dst {
		bit := uint(from + j)
		k := uint32(mask[bit/64] >> (bit % 64) & 1)
		d = math.Float32frombits(math.Float32bits(d) & -k)
		if f != 0 {
			d = roundBF16Scalar(d * f)
		}
		dst[j] = d
	}
	pruneScaleSumBF16Generic(dst, sum, 0, w, first, last) // min 0 keeps every entry
}
