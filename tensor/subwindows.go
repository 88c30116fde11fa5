package tensor

// SubWindowScaleBF16 is one input's term of a breadcrumbs TIES merge on
// bfloat16 tensors as stored (little-endian bytes, two per element): the
// task vector a − b, pruned to a window of ascending-magnitude ranks as
// KeepMagnitudeWindow does, weighted, and added to the running sum of the
// terms, in one pass that never writes the unpruned task vector:
//
//	for j := range dst {
//		d := roundBF16(a[j] − b[j])           // SubBF16Bytes
//		u := magnitudeBits(d)
//		switch {                              // KeepMagnitudeWindow
//		case u == vLo:
//			keep = lo <= rLo && rLo < hi
//			rLo++
//		case u == vHi:
//			keep = lo <= rHi && rHi < hi
//			rHi++
//		default:
//			keep = vLo < u && u < vHi
//		}
//		if !keep {
//			d = 0                                 // the bits cleared: +0
//		}
//		d = roundBF16(d·w)                    // ScaleRound(BF16, …, w)
//		dst[j] = d
//		s := sum[j]                           // 0 when first
//		sum[j] = s + d                        // roundBF16(s + d) when last
//	}
//	return rLo, rHi
//
// It gives the bits and counts of SubBF16Bytes, KeepMagnitudeWindow,
// ScaleRound and Add called in turn (first and last as in
// SubPruneScaleBF16), and calls over consecutive pieces, passing the
// counts on, do what one call does. It panics if a or b does not hold
// 2·len(dst) bytes or sum is shorter than dst.
func SubWindowScaleBF16(dst, sum []float32, a, b []byte, vLo, vHi uint32, rLo, rHi, lo, hi int, w float32, first, last bool) (int, int) {
	mustSameLen("SubWindowScaleBF16", 2*len(dst), len(a))
	mustSameLen("SubWindowScaleBF16", 2*len(dst), len(b))
	sum = sum[:len(dst)]
	va, okA := view16(a)
	vb, okB := view16(b)
	if okA && okB {
		return subWindowScaleBF16(dst, sum, va, vb, vLo, vHi, rLo, rHi, lo, hi, w, first, last)
	}
	// Unaligned or big-endian: the task vector first, then the rest.
	SubBF16Bytes(dst, a, b)
	rLo, rHi = keepMagnitudeWindowGeneric(dst, vLo, vHi, rLo, rHi, lo, hi)
	pruneScaleSumBF16Generic(dst, sum, 0, w, first, last) // min 0 keeps every entry
	return rLo, rHi
}

func subWindowScaleBF16Generic(dst, sum []float32, a, b []uint16, vLo, vHi uint32, rLo, rHi, lo, hi int, w float32, first, last bool) (int, int) {
	subBF16Generic(dst, a, b)
	rLo, rHi = keepMagnitudeWindowGeneric(dst, vLo, vHi, rLo, rHi, lo, hi)
	pruneScaleSumBF16Generic(dst, sum, 0, w, first, last)
	return rLo, rHi
}
