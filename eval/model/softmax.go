package model

import "math"

// expChunk is how many exponentials expSum adds in float32 before the
// running total moves to float64: short enough that float32 rounding
// stays near 1e-7 relative, long enough to keep the vector loop busy.
const expChunk = 1024

// logSoftmaxStats returns log Σ exp(row) (max-subtracted, so it cannot
// overflow) and the index of row's first maximum (-1 if row holds NaN).
// The exponentials are computed in float32 (see exp32) and summed in
// float32 within chunks of expChunk, the chunks in float64: the
// vocabulary-wide work of one position stays in float32.
func logSoftmaxStats(row []float32) (lse float64, argmax int) {
	m := maxF32(row)
	var sum float64
	for lo := 0; lo < len(row); lo += expChunk {
		sum += float64(expSum(row[lo:min(len(row), lo+expChunk)], m))
	}
	argmax = -1
	for i, v := range row {
		if v == m {
			argmax = i
			break
		}
	}
	return float64(m) + math.Log(sum), argmax
}
