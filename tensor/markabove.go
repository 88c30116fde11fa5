package tensor

import "math"

// MarkAbove sets bit j of mask (bit j%64 of mask[j/64]) where the
// magnitude bits of x[j] (its float32 bits without the sign) are above
// thr, and clears it elsewhere; the bits of mask past len(x) are cleared
// too. mask must hold at least len(x) bits.
func MarkAbove(mask []uint64, x []float32, thr uint32) {
	if len(x) == 0 {
		return
	}
	mask = mask[:(len(x)+63)>>6]
	if thr >= 1<<31 {
		clear(mask) // no magnitude is above
		return
	}
	markAbove(mask, x, thr)
}

func markAboveGeneric(mask []uint64, x []float32, thr uint32) {
	for w := range mask {
		var bits uint64
		for b, v := range x[w<<6 : min(len(x), (w+1)<<6)] {
			if math.Float32bits(v)&^(1<<31) > thr {
				bits |= 1 << b
			}
		}
		mask[w] = bits
	}
}
