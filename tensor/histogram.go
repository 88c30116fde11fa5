package tensor

import "math"

// magnitudeHistogram is MagnitudeHistogram after the length check; hist
// has exactly the counters the shift needs.
func magnitudeHistogram(hist []uint32, x []float32, shift uint) {
	magnitudeHistogramNaive(hist, x, shift)
}

// magnitudeHistogramNaive is the plain loop.
func magnitudeHistogramNaive(hist []uint32, x []float32, shift uint) {
	for _, v := range x {
		hist[(math.Float32bits(v)&^(1<<31))>>shift]++
	}
}
