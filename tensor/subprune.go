package tensor

import "math"

// SubPruneScaleBF16 is one input's term of a TIES merge on bfloat16
// tensors as stored (little-endian bytes, two per element): the task
// vector a − b, pruned by magnitude, weighted, and added to the running
// sum of the terms, in one pass that never writes the unpruned task
// vector:
//
//	for j := range dst {
//		d := roundBF16(a[j] − b[j])           // SubBF16Bytes
//		if magnitudeBits(d) < min {
//			d = 0                                 // the bits cleared: +0
//		}
//		d = roundBF16(d·w)                    // ScaleRound(BF16, …, w)
//		dst[j] = d
//		s := sum[j]                           // 0 when first
//		sum[j] = s + d                        // roundBF16(s + d) when last
//	}
//
// magnitudeBits(d) is math.Float32bits(d) &^ (1 << 31); min above 1<<31
// keeps nothing, as 1<<31 does. first lets sum start from zeros without a
// pass to clear it, and last rounds the finished sum. It gives the bits of
// SubBF16Bytes, PruneMagnitude with no ties, ScaleRound and Add called in
// turn (PruneMagnitude(x, thr, 0) keeps magnitude bits ≥ thr+1). It
// panics if a or b does not hold 2·len(dst) bytes or sum is shorter than
// dst.
func SubPruneScaleBF16(dst, sum []float32, a, b []byte, min uint32, w float32, first, last bool) {
	mustSameLen("SubPruneScaleBF16", 2*len(dst), len(a))
	mustSameLen("SubPruneScaleBF16", 2*len(dst), len(b))
	sum = sum[:len(dst)]
	min = minU32(min, 1<<31)
	va, okA := view16(a)
	vb, okB := view16(b)
	if okA && okB {
		subPruneScaleBF16(dst, sum, va, vb, min, w, first, last)
		return
	}
	// Unaligned or big-endian: the task vector first, then the rest.
	SubBF16Bytes(dst, a, b)
	pruneScaleSumBF16Generic(dst, sum, min, w, first, last)
}

func minU32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}

func subPruneScaleBF16Generic(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool) {
	subBF16Generic(dst, a, b)
	pruneScaleSumBF16Generic(dst, sum, min, w, first, last)
}

// pruneScaleSumBF16Generic is SubPruneScaleBF16 after the subtraction, on
// the task vector in dst.
func pruneScaleSumBF16Generic(dst, sum []float32, min uint32, w float32, first, last bool) {
	for j, d := range dst {
		bits := math.Float32bits(d)
		d = roundBF16Scalar(math.Float32frombits(bits&-b2u(bits&^(1<<31) >= min)) * w)
		dst[j] = d
		var s float32
		if !first {
			s = sum[j]
		}
		s += d
		if last {
			s = roundBF16Scalar(s)
		}
		sum[j] = s
	}
}

// SubKeepScaleBF16 is SubPruneScaleBF16 for DARE: the task vector a − b
// is pruned by random draws instead of by magnitude, and rescaled by f
// before it is weighted:
//
//	for j := range dst {
//		d := roundBF16(a[j] − b[j])           // SubBF16Bytes
//		if !(draws[j] < bound) {
//			d = 0                                 // KeepBelow: the bits cleared
//		}
//		if f != 0 {
//			d = roundBF16(d·f)                // ScaleRound(BF16, …, f)
//		}
//		d = roundBF16(d·w)                    // ScaleRound(BF16, …, w)
//		dst[j] = d
//		sum[j] = s + d                        // as SubPruneScaleBF16
//	}
//
// It panics if a or b does not hold 2·len(dst) bytes or sum or draws is
// shorter than dst.
func SubKeepScaleBF16(dst, sum []float32, a, b []byte, draws []uint32, bound uint32, f, w float32, first, last bool) {
	mustSameLen("SubKeepScaleBF16", 2*len(dst), len(a))
	mustSameLen("SubKeepScaleBF16", 2*len(dst), len(b))
	sum, draws = sum[:len(dst)], draws[:len(dst)]
	va, okA := view16(a)
	vb, okB := view16(b)
	if okA && okB {
		subKeepScaleBF16(dst, sum, va, vb, draws, bound, f, w, first, last)
		return
	}
	SubBF16Bytes(dst, a, b)
	keepScaleSumBF16Generic(dst, sum, draws, bound, f, w, first, last)
}

func subKeepScaleBF16Generic(dst, sum []float32, a, b []uint16, draws []uint32, bound uint32, f, w float32, first, last bool) {
	subBF16Generic(dst, a, b)
	keepScaleSumBF16Generic(dst, sum, draws, bound, f, w, first, last)
}

// keepScaleSumBF16Generic is SubKeepScaleBF16 after the subtraction, on
// the task vector in dst.
func keepScaleSumBF16Generic(dst, sum []float32, draws []uint32, bound uint32, f, w float32, first, last bool) {
	for j, d := range dst {
		d = math.Float32frombits(math.Float32bits(d) & -b2u(draws[j] < bound))
		if f != 0 {
			d = roundBF16Scalar(d * f)
		}
		dst[j] = d
	}
	pruneScaleSumBF16Generic(dst, sum, 0, w, first, last) // min 0 keeps every entry
}
