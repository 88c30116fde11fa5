//go:build amd64 && gc && !purego

package tensor

// lanesSumAVX512 writes the lanesSum of the n float32s at x, n a multiple
// of 16, into r: the values widened to float64 (VCVTPS2PD, exact) and
// added in 16 lanes, their magnitudes' largest (VPMAXUD) and smallest
// non-zero (VPMINUD of the magnitude minus one) bits, and the OR of their
// bits.
//
//go:noescape
func lanesSumAVX512(x *float32, n int, r *lanesSum)

// roundedDotLanesAVX512 is lanesSumAVX512 over the products x[j]·y[j]
// rounded to bfloat16 (VMULPS, BF16ROUND512).
//
//go:noescape
func roundedDotLanesAVX512(x, y *float32, n int, r *lanesSum)

// lanesSumOf runs the assembly on the longest multiple of 16 and merges
// the summary of the rest, if any.
func lanesSumOf(x []float32) lanesSum {
	c := newLanesSum()
	if n := len(x) &^ 15; n > 0 && useAVX512 {
		lanesSumAVX512(&x[0], n, &c)
		x = x[n:]
	}
	if len(x) > 0 {
		c.merge(lanesSumGeneric(x))
	}
	return c
}

// roundedDotLanesCVT is roundedDotLanesAVX512 rounding with
// VCVTNE2PS2BF16 for n a multiple of 32; ok is false, and r to be
// discarded, when a product was denormal.
//
//go:noescape
func roundedDotLanesCVT(x, y *float32, n int, r *lanesSum) (ok bool)

func roundedDotLanesOf(a, b []float32) lanesSum {
	b = b[:len(a)]
	c := newLanesSum()
	if m := len(a) &^ 31; m > 0 && useAVX512 && useAVX512BF16 {
		if roundedDotLanesCVT(&a[0], &b[0], m, &c) {
			a, b = a[m:], b[m:]
		} else {
			c = newLanesSum() // a denormal product: the other bodies round it
		}
	}
	if n := len(a) &^ 15; n > 0 && useAVX512 {
		var d lanesSum
		roundedDotLanesAVX512(&a[0], &b[0], n, &d)
		c.merge(d)
		a, b = a[n:], b[n:]
	}
	if len(a) > 0 {
		c.merge(roundedDotLanesGeneric(a, b))
	}
	return c
}
