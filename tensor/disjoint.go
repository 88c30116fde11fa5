package tensor

// DisjointMergeBF16 finishes a TIES merge of one block on bfloat16 once
// the weighted task vectors x[i] (weights w[i]) and their rounded sum sign
// are known (SubPruneScaleBF16 makes both): the disjoint sum of the
// entries that agree with the elected sign, divided by the sum of their
// weights when normalize, plus the base (bfloat16 as stored). It gives the
// bits of
//
//	clear(out); clear(weight)
//	for i := range x {
//		AddAgreeing(out, weight, x[i], sign, w[i])
//	}
//	Round(BF16, out)
//	if normalize {
//		Round(BF16, weight)
//		DivNonZeroRound(BF16, out, weight)
//	}
//	Add(out, base)                      // base decoded
//
// in one pass, without the weight buffer. It panics if an x[i] or sign is
// shorter than out, w is shorter than x, or base does not hold 2·len(out)
// bytes.
func DisjointMergeBF16(out []float32, x [][]float32, w, sign []float32, base []byte, normalize bool) {
	mustSameLen("DisjointMergeBF16", 2*len(out), len(base))
	sign = sign[:len(out)]
	w = w[:len(x)]
	for _, xi := range x {
		if len(xi) < len(out) {
			panic("tensor: DisjointMergeBF16: an input is shorter than out")
		}
	}
	if vb, ok := view16(base); ok {
		disjointMergeBF16(out, x, w, sign, vb, normalize)
		return
	}
	// Unaligned or big-endian: decode the base into out first.
	var b [chunk]float32
	for lo := 0; lo < len(out); lo += chunk {
		hi := min(len(out), lo+chunk)
		decode16(b[:hi-lo], base[2*lo:2*hi], BF16)
		disjointMergeBF16Generic(out[lo:hi], x, lo, w, sign[lo:hi], b[:hi-lo], normalize)
	}
}

// disjointMergeBF16Generic is DisjointMergeBF16 with the base decoded, on
// the elements from on of the x[i].
func disjointMergeBF16Generic(out []float32, x [][]float32, from int, w, sign, base []float32, normalize bool) {
	var weight [chunk]float32
	for lo := 0; lo < len(out); lo += chunk {
		hi := min(len(out), lo+chunk)
		o, wt := out[lo:hi], weight[:hi-lo]
		clear(o)
		clear(wt)
		for i := range x {
			addAgreeingGeneric(o, wt, x[i][from+lo:from+hi], sign[lo:hi], w[i])
		}
		roundBF16Generic(o)
		if normalize {
			roundBF16Generic(wt)
			divNonZeroRoundBF16Generic(o, wt)
		}
		addGeneric(o, base[lo:hi])
	}
}

// disjointMergeBF16Bits is disjointMergeBF16Generic on the base as
// stored bfloat16 bits.
func disjointMergeBF16Bits(out []float32, x [][]float32, from int, w, sign []float32, base []uint16, normalize bool) {
	var b [chunk]float32
	for lo := 0; lo < len(out); lo += chunk {
		hi := min(len(out), lo+chunk)
		decodeBF16Generic(b[:hi-lo], base[lo:hi])
		disjointMergeBF16Generic(out[lo:hi], x, from+lo, w, sign[lo:hi], b[:hi-lo], normalize)
	}
}
