package tensor

import "math"

// SubCountWindowsBF16 is the window pass of breadcrumbs' analysis on
// bfloat16 tensors as stored (little-endian bytes, two per element): it
// computes the task vector a − b and counts it into two windows of
// magnitudes at once, in one pass that never writes the task vector:
//
//	for j := range a {
//		d := roundBF16(a[j] − b[j])           // SubBF16Bytes
//		above0 += CountAboveWindowShift(hist0, d, lo0, hi0, 16)
//		above1 += CountAboveWindowShift(hist1, d, lo1, hi1, 16)
//	}
//
// so each window has one counter per bfloat16 value. It gives the counts
// of SubBF16Bytes followed by the two CountAboveWindowShift calls. It
// panics if a and b differ in length or are of odd length, if a window's
// lo is above its hi, or if a histogram holds no more than (hi−lo)>>16
// counters.
func SubCountWindowsBF16(hist0, hist1 []uint32, a, b []byte, lo0, hi0, lo1, hi1 uint32) (above0, above1 int) {
	mustSameLen("SubCountWindowsBF16", len(a), len(b))
	switch {
	case len(a)%2 != 0:
		panic("tensor: SubCountWindowsBF16: odd number of bytes")
	case lo0 > hi0 || lo1 > hi1:
		panic("tensor: SubCountWindowsBF16: lo above hi")
	case uint64(len(hist0)) <= uint64((hi0-lo0)>>16) || uint64(len(hist1)) <= uint64((hi1-lo1)>>16):
		panic("tensor: SubCountWindowsBF16: hist holds no more than (hi-lo)>>16 counters")
	}
	va, okA := view16(a)
	vb, okB := view16(b)
	if okA && okB {
		return subCountWindowsBF16(hist0, hist1, va, vb, lo0, hi0, lo1, hi1)
	}
	// Unaligned or big-endian: the task vector a piece at a time.
	var d [chunk]float32
	for len(a) > 0 {
		n := min(len(a)/2, chunk)
		SubBF16Bytes(d[:n], a[:2*n], b[:2*n])
		above0 += CountAboveWindowShift(hist0, d[:n], lo0, hi0, 16)
		above1 += CountAboveWindowShift(hist1, d[:n], lo1, hi1, 16)
		a, b = a[2*n:], b[2*n:]
	}
	return above0, above1
}

// subCountChunk is the most elements one call of the assembly takes: its
// buffers of window elements on the stack hold that many.
const subCountChunk = 2048

func subCountWindowsBF16Generic(hist0, hist1 []uint32, a, b []uint16, lo0, hi0, lo1, hi1 uint32) (above0, above1 int) {
	b = b[:len(a)]
	for j := range a {
		x := math.Float32frombits(uint32(a[j]) << 16)
		y := math.Float32frombits(uint32(b[j]) << 16)
		u := math.Float32bits(roundBF16Scalar(x-y)) &^ (1 << 31)
		// As countAboveWindowShiftGeneric: branch-free for the counts, a
		// branch for the rare window elements (u-lo wraps for u < lo).
		above0 += int(b2u(u > hi0))
		above1 += int(b2u(u > hi1))
		if u-lo0 <= hi0-lo0 {
			hist0[(u-lo0)>>16]++
		}
		if u-lo1 <= hi1-lo1 {
			hist1[(u-lo1)>>16]++
		}
	}
	return above0, above1
}
