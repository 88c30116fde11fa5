package tensor

import "math"

// subWindowSlots is the widest window, in bfloat16 values, that the SIMD
// body of SubCountAboveWindowBF16 counts; wider ones take the chain.
const subWindowSlots = 5

// SubCountAboveWindowBF16 is the counting pass of exact top-k selection
// (CountAboveWindowShift with shift 16, one counter per bfloat16 value)
// on the task vector a − b of bfloat16 tensors as stored (little-endian
// bytes, two per element), in one pass that never writes the task vector.
// It returns and counts what the calls it replaces do:
//
//	d := make([]float32, len(a)/2)
//	SubBF16Bytes(d, a, b)
//	return CountAboveWindowShift(win, d, lo, hi, 16)
//
// adding to what win holds. It panics if a and b differ in length or hold
// an odd number of bytes, and as CountAboveWindowShift does.
func SubCountAboveWindowBF16(win []uint32, a, b []byte, lo, hi uint32) int {
	mustSameLen("SubCountAboveWindowBF16", len(a), len(b))
	if len(a)%2 != 0 {
		panic("tensor: SubCountAboveWindowBF16: odd byte count")
	}
	switch {
	case lo > hi:
		panic("tensor: SubCountAboveWindowBF16: lo above hi")
	case uint64(len(win)) <= uint64((hi-lo)>>16):
		panic("tensor: SubCountAboveWindowBF16: win holds no more than (hi-lo)>>16 counters")
	}
	n, above := 0, 0
	va, okA := view16(a)
	vb, okB := view16(b)
	if okA && okB && lo&0xffff == 0 && hi < 1<<31 && (hi-lo)>>16 < subWindowSlots {
		n, above = subCountWindow(win, va, vb, lo, hi)
	}
	// The rest (or all of it) as the calls it stands for, a block at a
	// time.
	var buf [256]float32
	for m := len(a) / 2; n < m; {
		c := min(len(buf), m-n)
		d := buf[:c]
		SubBF16Bytes(d, a[2*n:2*(n+c)], b[2*n:2*(n+c)])
		above += CountAboveWindowShift(win, d, lo, hi, 16)
		n += c
	}
	return above
}

// subWindowCounts are the per-lane counters of the SIMD body of
// SubCountAboveWindowBF16: element j counts in lane j%16 of row 0 when
// its magnitude bits u are above hi, else of row 1+(u−lo)>>16 when u ≥ lo.
type subWindowCounts [1 + subWindowSlots][16]uint32

// subCountWindowBF16Generic is the lane-wise reference of the SIMD body,
// for lo ≤ hi < 2^31, lo a multiple of 1<<16 (a bfloat16 value's bits)
// and (hi−lo)>>16 < subWindowSlots; len(a) is a multiple of 16.
func subCountWindowBF16Generic(c *subWindowCounts, a, b []uint16, lo, hi uint32) {
	b = b[:len(a)]
	for j := range a {
		x := math.Float32frombits(uint32(a[j]) << 16)
		y := math.Float32frombits(uint32(b[j]) << 16)
		u := math.Float32bits(roundBF16Scalar(x-y)) &^ (1 << 31)
		switch {
		case u > hi:
			c[0][j%16]++
		case u >= lo:
			c[1+(u-lo)>>16][j%16]++
		}
	}
}

// addWindowCounts adds the lanes of c to win and returns the count above.
func addWindowCounts(win []uint32, c *subWindowCounts, lo, hi uint32) int {
	above := 0
	for _, v := range c[0] {
		above += int(v)
	}
	for s := range int((hi-lo)>>16) + 1 {
		for _, v := range c[1+s] {
			win[s] += v
		}
	}
	return above
}
