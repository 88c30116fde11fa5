//go:build amd64 && gc && !purego

package tensor

import "math"

// subWindowScaleBF16AVX2 is subWindowScaleBF16Generic on eight lanes, for
// a length that is a multiple of 8 and vLo, vHi < 2^31, up to the first
// vector whose entries equal to vLo (vHi) take their rank past limLo
// (limHi); up to there those entries are kept where keepLo (keepHi) is -1
// and dropped where it is 0 (windowPhase). It returns how many elements it
// did and the counts after them, and writes nothing of the vector it
// stopped at.
//
//go:noescape
func subWindowScaleBF16AVX2(dst, sum []float32, a, b []uint16, vLo, vHi uint32, rLo, rHi, limLo, limHi int, keepLo, keepHi int32, w float32, first, last bool) (done, newLo, newHi int)

// subWindowScaleBF16AVX512 is subWindowScaleBF16AVX2 on 16 lanes for a
// length that is a multiple of 16.
//
//go:noescape
func subWindowScaleBF16AVX512(dst, sum []float32, a, b []uint16, vLo, vHi uint32, rLo, rHi, limLo, limHi int, keepLo, keepHi int32, w float32, first, last bool) (done, newLo, newHi int)

// subWindowScaleBF16CVT is subWindowScaleBF16AVX512 rounding with
// VCVTNE2PS2BF16 (see the assembly), 32 elements at a time, for vLo and vHi
// bfloat16 values' bits and cvtPrune(vLo, w).
//
//go:noescape
func subWindowScaleBF16CVT(dst, sum []float32, a, b []uint16, vLo, vHi uint32, rLo, rHi, limLo, limHi int, keepLo, keepHi int32, w float32, first, last bool) (done, newLo, newHi int)

// subWindowScaleBF16 hands the vectors where the boundary values' ranks
// reach lo or hi to the Go reference, as keepMagnitudeWindow does.
func subWindowScaleBF16(dst, sum []float32, a, b []uint16, vLo, vHi uint32, rLo, rHi, lo, hi int, w float32, first, last bool) (int, int) {
	if useAVX2 && vLo < 1<<31 && vHi < 1<<31 {
		kernel, width := subWindowScaleBF16AVX2, 8
		if useAVX512BW {
			kernel, width = subWindowScaleBF16AVX512, 16
		}
		if useAVX512BW && useAVX512BF16 && vLo&0xffff == 0 && vHi&0xffff == 0 && cvtPrune(vLo, w) {
			kernel, width = subWindowScaleBF16CVT, 32
		}
		for {
			n := len(dst) &^ (width - 1)
			limLo, keepLo := windowPhase(rLo, lo, hi)
			limHi, keepHi := windowPhase(rHi, lo, hi)
			var done int
			done, rLo, rHi = kernel(dst[:n], sum[:n], a[:n], b[:n], vLo, vHi, rLo, rHi, limLo, limHi, keepLo, keepHi, w, first, last)
			dst, sum, a, b = dst[done:], sum[done:], a[done:], b[done:]
			if done == n {
				break
			}
			rLo, rHi = subWindowScaleBF16Generic(dst[:width], sum[:width], a[:width], b[:width], vLo, vHi, rLo, rHi, lo, hi, w, first, last)
			dst, sum, a, b = dst[width:], sum[width:], a[width:], b[width:]
		}
	}
	return subWindowScaleBF16Generic(dst, sum, a, b, vLo, vHi, rLo, rHi, lo, hi, w, first, last)
}

// windowPhase says whether the entries equal to a boundary whose next rank
// is r are kept, and up to which rank that holds (lo, hi or never): the
// assembly keeps or drops them as one until their rank passes it.
func windowPhase(r, lo, hi int) (limit int, keep int32) {
	switch {
	case r >= hi:
		return math.MaxInt, 0
	case r < lo:
		return lo, 0
	}
	return hi, -1
}
