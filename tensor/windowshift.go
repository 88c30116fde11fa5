package tensor

import "math"

// CountAboveWindowShift is CountAboveWindow with coarser counters: it
// returns how many elements of x have magnitude bits above hi, and counts
// those inside the window [lo, hi] into hist by their offset from lo
// shifted right by shift, adding to what is there:
//
//	for _, v := range x {
//		u := math.Float32bits(v) &^ (1 << 31)
//		switch {
//		case u > hi:
//			n++
//		case u >= lo:
//			hist[(u-lo)>>shift]++
//		}
//	}
//	return n
//
// With shift 16 a window of bfloat16 magnitudes needs one counter per
// bfloat16 value instead of 1<<16 of them, so a wide window costs a few
// bytes. lo must not exceed hi, shift must be below 32 and hist must hold
// more than (hi-lo)>>shift counters; anything else is a programming error
// and panics.
func CountAboveWindowShift(hist []uint32, x []float32, lo, hi uint32, shift uint) int {
	switch {
	case lo > hi:
		panic("tensor: CountAboveWindowShift: lo above hi")
	case shift >= 32:
		panic("tensor: CountAboveWindowShift: shift of 32 or more")
	case uint64(len(hist)) <= uint64((hi-lo)>>shift):
		panic("tensor: CountAboveWindowShift: hist holds no more than (hi-lo)>>shift counters")
	}
	return countAboveWindowShift(hist, x, lo, hi, shift)
}

func countAboveWindowShiftGeneric(hist []uint32, x []float32, lo, hi uint32, shift uint) int {
	n := 0
	for _, v := range x {
		u := math.Float32bits(v) &^ (1 << 31)
		// As countAboveWindowGeneric: branch-free for the count, a branch
		// for the rare window elements (u-lo wraps for u < lo).
		n += int(b2u(u > hi))
		if u-lo <= hi-lo {
			hist[(u-lo)>>shift]++
		}
	}
	return n
}
