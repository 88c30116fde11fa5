//go:build amd64 && gc && !purego

package tensor

import "math"

// subVarianceBF16AVX512 is subVarianceBF16Generic on 16 lanes (two
// vectors of eight float64s) for a length of v that is a multiple of 16,
// each lane in Variance's operations and order as varianceAVX2's are; with
// mul, m is 1/m' for m' a power of two, multiplied by instead of dividing
// by m' (the same quotients). lows holds 16 lanes per input of the
// running minimum that mins takes, lowered in place; it returns the
// non-zero variances.
//
//go:noescape
func subVarianceBF16AVX512(v []float32, tvs [][]float32, xs [][]byte, base []byte, lows *uint32, m float64, mul bool) int

// subVarianceInputs is the most inputs the AVX-512 body takes (its lanes
// of minima are on the stack); more are left to the Go reference.
const subVarianceInputs = 32

// subVariance runs the AVX-512 body over the longest multiple of 16
// elements and returns how many it did and their non-zero variances.
func subVariance(v []float32, tvs [][]float32, xs [][]byte, base []byte, mins []uint32) (done, nonzero int) {
	k := len(xs)
	n := len(v) &^ 15
	if !useAVX2 || !useAVX512BW || k > subVarianceInputs || n == 0 {
		return 0, 0
	}
	var lows [16 * subVarianceInputs]uint32
	for i := range lows[:16*k] {
		lows[i] = math.MaxUint32
	}
	m, mul := float64(k), false
	if f, e := math.Frexp(m); f == 0.5 {
		m, mul = math.Ldexp(1, 1-e), true
	}
	nonzero = subVarianceBF16AVX512(v[:n], tvs, xs, base, &lows[0], m, mul)
	for i := range k {
		for _, l := range lows[16*i : 16*i+16] {
			mins[i] = min(mins[i], l)
		}
	}
	return n, nonzero
}
