package tensor

// SubKeepScaleStreamBF16 is SubKeepScaleBF16 with the draws taken from
// the SplitMix64 stream of key as KeepBelowStream takes them: element j's
// draw is 32-bit draw at+j of the stream, the low half of 64-bit output
// (at+j)/2 when at+j is even and its high half when it is odd (at+len(dst)
// must not pass 2⁶⁴). It gives
// the bits of
//
//	draws := make([]uint32, len(dst))
//	for j := range draws {
//		var w [1]uint64
//		SplitMix64(w[:], key, (at+uint64(j))/2)
//		draws[j] = uint32(w[0] >> (32 * ((at + uint64(j)) % 2)))
//	}
//	SubKeepScaleBF16(dst, sum, a, b, draws, bound, f, w, first, last)
//
// without writing the draws: the AVX-512 body makes them in registers. It
// panics if a or b does not hold 2·len(dst) bytes or sum is shorter than
// dst.
func SubKeepScaleStreamBF16(dst, sum []float32, a, b []byte, key, at uint64, bound uint32, f, w float32, first, last bool) {
	mustSameLen("SubKeepScaleStreamBF16", 2*len(dst), len(a))
	mustSameLen("SubKeepScaleStreamBF16", 2*len(dst), len(b))
	sum = sum[:len(dst)]
	va, okA := view16(a)
	vb, okB := view16(b)
	if !okA || !okB {
		// Unaligned or big-endian: the draws into a buffer, a block at a
		// time, for SubKeepScaleBF16.
		var draws [256]uint32
		for lo := 0; lo < len(dst); lo += len(draws) {
			hi := min(len(dst), lo+len(draws))
			streamDraws(draws[:hi-lo], key, at+uint64(lo))
			SubKeepScaleBF16(dst[lo:hi], sum[lo:hi], a[2*lo:2*hi], b[2*lo:2*hi], draws[:hi-lo], bound, f, w, first, last)
		}
		return
	}
	if at%2 == 1 && len(dst) > 0 {
		// The high half of a word first: the rest starts on a word.
		subKeepScaleStreamBF16Generic(dst[:1], sum[:1], va[:1], vb[:1], key, at, bound, f, w, first, last)
		dst, sum, va, vb, at = dst[1:], sum[1:], va[1:], vb[1:], at+1
	}
	subKeepScaleStreamBF16(dst, sum, va, vb, key, at, bound, f, w, first, last)
}

// subKeepScaleStreamBF16Generic is SubKeepScaleStreamBF16 on aligned
// inputs in Go.
func subKeepScaleStreamBF16Generic(dst, sum []float32, a, b []uint16, key, at uint64, bound uint32, f, w float32, first, last bool) {
	subKeepScaleStreamBlocks(true, dst, sum, a, b, key, at, bound, f, w, first, last)
}

// subKeepScaleStreamBlocks is SubKeepScaleStreamBF16 on aligned inputs
// with the draws written to a buffer a block at a time for
// subKeepScaleBF16Generic (generic) or subKeepScaleBF16.
func subKeepScaleStreamBlocks(generic bool, dst, sum []float32, a, b []uint16, key, at uint64, bound uint32, f, w float32, first, last bool) {
	var draws [256]uint32
	for lo := 0; lo < len(dst); lo += len(draws) {
		hi := min(len(dst), lo+len(draws))
		streamDraws(draws[:hi-lo], key, at+uint64(lo))
		if generic {
			subKeepScaleBF16Generic(dst[lo:hi], sum[lo:hi], a[lo:hi], b[lo:hi], draws[:hi-lo], bound, f, w, first, last)
		} else {
			subKeepScaleBF16(dst[lo:hi], sum[lo:hi], a[lo:hi], b[lo:hi], draws[:hi-lo], bound, f, w, first, last)
		}
	}
}

// SubKeepAbsSumsStreamBF16 is SubKeepAbsSumsBF16 with the draws taken
// from the SplitMix64 stream of key as SubKeepScaleStreamBF16 takes them,
// element j's being 32-bit draw at+j, without writing them: it gives the
// sums of
//
//	draws := make([]uint32, len(a)/2)   // as SubKeepScaleStreamBF16's
//	SubKeepAbsSumsBF16(all, kept, a, b, draws, bound)
//
// and AbsSum's rule holds as there. It panics if a and b differ in length
// or hold an odd number of bytes.
func SubKeepAbsSumsStreamBF16(all, kept *AbsSum, a, b []byte, key, at uint64, bound uint32) {
	mustSameLen("SubKeepAbsSumsStreamBF16", len(a), len(b))
	if len(a)%2 != 0 {
		panic("tensor: SubKeepAbsSumsStreamBF16: odd byte count")
	}
	n := len(a) / 2
	m := 0
	va, okA := view16(a)
	vb, okB := view16(b)
	if okA && okB && at%2 == 0 && !all.odd && !kept.odd && absSumLanes() {
		m = subKeepAbsSumsStream(&all.lanes, &kept.lanes, va, vb, key, at, bound)
	}
	// The rest (or all of it) with the draws in a buffer: blocks of a
	// multiple of 16 keep AbsSum's parts whole.
	var draws [256]uint32
	for m < n {
		c := min(len(draws), n-m)
		streamDraws(draws[:c], key, at+uint64(m))
		SubKeepAbsSumsBF16(all, kept, a[2*m:2*(m+c)], b[2*m:2*(m+c)], draws[:c], bound)
		m += c
	}
}

// subKeepAbsSumsStreamBF16Generic is the lane-wise reference of the SIMD
// body: subKeepAbsSumsBF16Generic with the stream's draws; len(a) is a
// multiple of 16.
func subKeepAbsSumsStreamBF16Generic(all, kept *[16]float64, a, b []uint16, key, at uint64, bound uint32) {
	var draws [256]uint32
	for lo := 0; lo < len(a); lo += len(draws) {
		hi := min(len(a), lo+len(draws))
		streamDraws(draws[:hi-lo], key, at+uint64(lo))
		subKeepAbsSumsBF16Generic(all, kept, a[lo:hi], b[lo:hi], draws[:hi-lo], bound)
	}
}

// streamDraws sets dst to 32-bit draws at, at+1, … of the SplitMix64
// stream of key (see SubKeepScaleStreamBF16).
func streamDraws(dst []uint32, key, at uint64) {
	if at%2 == 1 && len(dst) > 0 {
		dst[0] = uint32(splitMix64Mix(key+(at/2+1)*splitMixGolden) >> 32)
		dst, at = dst[1:], at+1
	}
	var words [128]uint64
	for len(dst) > 0 {
		n := min(len(words), (len(dst)+1)/2)
		splitMix64(words[:n], key, at/2)
		for k, v := range words[:n] {
			dst[2*k] = uint32(v) // low half first
			if 2*k+1 < len(dst) {
				dst[2*k+1] = uint32(v >> 32)
			}
		}
		dst, at = dst[min(len(dst), 2*n):], at+uint64(2*n)
	}
}
