package tensor

import "math"

// KeepMagnitudeWindow keeps the elements of x whose magnitude (the float32
// bits without the sign) lies strictly between vLo and vHi, and those equal
// to vLo or vHi whose running count, starting at rLo or rHi, lies in
// [lo, hi); it zeroes the rest (to +0) and returns the counts advanced past
// x. It is the selection of the ranks [lo, hi) by ascending magnitude, with
// equal magnitudes ranked in index order, once the boundary magnitudes and
// the ranks of their first entries are known:
//
//	for j, v := range x {
//		u := math.Float32bits(v) &^ (1 << 31)
//		switch {
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
//			x[j] = 0
//		}
//	}
//
// Calling it on consecutive pieces of a buffer, passing the counts on,
// does what one call on the whole buffer does.
func KeepMagnitudeWindow(x []float32, vLo, vHi uint32, rLo, rHi, lo, hi int) (int, int) {
	return keepMagnitudeWindow(x, vLo, vHi, rLo, rHi, lo, hi)
}

func keepMagnitudeWindowGeneric(x []float32, vLo, vHi uint32, rLo, rHi, lo, hi int) (int, int) {
	for j, v := range x {
		bits := math.Float32bits(v)
		u := bits &^ (1 << 31)
		keep := b2u(vLo < u) & b2u(u < vHi) // without branches
		if u == vLo || u == vHi {           // rare: rank the boundary values
			r := &rLo
			if u != vLo {
				r = &rHi
			}
			keep = b2u(*r >= lo && *r < hi)
			*r++
		}
		x[j] = math.Float32frombits(bits & -keep)
	}
	return rLo, rHi
}
