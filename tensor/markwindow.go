package tensor

import "math"

// MarkWindow sets bit j of over (bit j%64 of over[j/64]) where the
// magnitude bits of x[j] (its float32 bits without the sign) are above
// hi, and bit j of inside where they are in [lo, hi]; it clears both
// elsewhere, past len(x) too. It gives the bits of the calls it replaces:
//
//	MarkAbove(over, x, hi)
//	MarkAbove(inside, x, lo-1)  // every bit up to len(x) for lo 0
//	inside[w] &^= over[w]       // for every word
//
// lo must not exceed hi, and over and inside must hold at least len(x)
// bits; anything else is a programming error and panics.
func MarkWindow(over, inside []uint64, x []float32, lo, hi uint32) {
	if lo > hi {
		panic("tensor: MarkWindow: lo above hi")
	}
	if len(x) == 0 {
		return
	}
	words := (len(x) + 63) >> 6
	over, inside = over[:words], inside[:words]
	w := markWindow(over, inside, x, lo, hi)
	markWindowGeneric(over[w:], inside[w:], x[w<<6:], lo, hi)
}

// markWindowGeneric is MarkWindow's loop.
func markWindowGeneric(over, inside []uint64, x []float32, lo, hi uint32) {
	for w := range over {
		var o, in uint64
		for b, v := range x[w<<6 : min(len(x), (w+1)<<6)] {
			u := math.Float32bits(v) &^ (1 << 31)
			o |= uint64(b2u(u > hi)) << b
			in |= uint64(b2u(u >= lo && u <= hi)) << b
		}
		over[w], inside[w] = o, in
	}
}
