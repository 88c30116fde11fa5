package tensor

import "math"

// SubKeepAbsSumsBF16 is the analysis of DARE's L1 rescale on bfloat16
// tensors as stored (little-endian bytes, two per element): it adds the
// magnitudes of the task vector a − b to all, and those of its entries
// whose draw is below bound to kept, in one pass that never writes the
// task vector. It gives the sums of the calls it replaces:
//
//	d := make([]float32, len(draws))
//	SubBF16Bytes(d, a, b)
//	all.Add(d)
//	KeepBelow(d, draws, bound)
//	kept.Add(d)
//
// so AbsSum's rule holds for all and kept alike: every part but the last
// must be a multiple of 16 elements long. It panics if a or b does not
// hold 2·len(draws) bytes.
func SubKeepAbsSumsBF16(all, kept *AbsSum, a, b []byte, draws []uint32, bound uint32) {
	n := len(draws)
	mustSameLen("SubKeepAbsSumsBF16", 2*n, len(a))
	mustSameLen("SubKeepAbsSumsBF16", 2*n, len(b))
	m := 0
	va, okA := view16(a)
	vb, okB := view16(b)
	if okA && okB && !all.odd && !kept.odd && absSumLanes() {
		m = subKeepAbsSums(&all.lanes, &kept.lanes, va, vb, draws, bound)
	}
	// The rest (or all of it) as the calls it stands for, a block at a
	// time: blocks of a multiple of 16 keep AbsSum's parts whole.
	var buf [256]float32
	for m < n {
		c := min(len(buf), n-m)
		d := buf[:c]
		SubBF16Bytes(d, a[2*m:2*(m+c)], b[2*m:2*(m+c)])
		all.Add(d)
		KeepBelow(d, draws[m:m+c], bound)
		kept.Add(d)
		m += c
	}
}

// subKeepAbsSumsBF16Generic is the lane-wise reference of the SIMD
// bodies: element j's magnitude goes to lane j%16 of all, and of kept
// when its draw is below bound; len(draws) is a multiple of 16.
func subKeepAbsSumsBF16Generic(all, kept *[16]float64, a, b []uint16, draws []uint32, bound uint32) {
	a, b = a[:len(draws)], b[:len(draws)]
	for j, r := range draws {
		x := math.Float32frombits(uint32(a[j]) << 16)
		y := math.Float32frombits(uint32(b[j]) << 16)
		v := math.Abs(float64(roundBF16Scalar(x - y)))
		all[j%16] += v
		if r < bound {
			kept[j%16] += v
		}
	}
}
