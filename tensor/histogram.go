package tensor

import "math"

// magnitudeHistogram is MagnitudeHistogram after the length check: hist
// has exactly 1<<(31-shift) counters (1 for shift ≥ 31), a power of two.
//
// Unrolled by four, with the four indices computed before the four
// increments, it runs about 1.35 times as fast as the plain loop on
// bfloat16-rounded weights (bench_test.go): the loads and index arithmetic
// of the next elements no longer wait behind an increment whose counter the
// previous one has just stored. Four separate sub-histograms, the usual
// remedy for equal neighbours, were slower still, their clearing and
// summing included. Masking the indices with len(hist)-1 changes none (each
// is below len(hist) already) but lets the compiler drop the bounds checks.
func magnitudeHistogram(hist []uint32, x []float32, shift uint) {
	if len(hist) == 0 {
		return
	}
	m := uint(len(hist) - 1)
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		a := uint(math.Float32bits(v[0])&^(1<<31)) >> shift
		b := uint(math.Float32bits(v[1])&^(1<<31)) >> shift
		c := uint(math.Float32bits(v[2])&^(1<<31)) >> shift
		d := uint(math.Float32bits(v[3])&^(1<<31)) >> shift
		hist[a&m]++
		hist[b&m]++
		hist[c&m]++
		hist[d&m]++
	}
	for ; i < len(x); i++ {
		hist[uint(math.Float32bits(x[i])&^(1<<31))>>shift&m]++
	}
}
