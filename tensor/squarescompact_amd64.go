//go:build amd64 && gc && !purego

package tensor

// compressAboveAVX512 copies the entries of v (n of them, a multiple of
// 16) whose magnitude bits are above gt as signed integers to dst, in
// order, and returns how many it copied.
//
//go:noescape
func compressAboveAVX512(dst *float32, v *float32, n int, gt int32) int

// squaresAboveAVX512 writes float64(RoundBF16(x[j]·x[j])) to dst, in
// order, for the j < n (a multiple of 16) where the magnitude bits of
// v[j] are above gt as signed integers, and returns how many it wrote:
// mulWidenBF16 of x with itself, compressed as compressAboveAVX512
// compresses v.
//
//go:noescape
func squaresAboveAVX512(dst *float64, x *float32, v *float32, n int, gt int32) int

// compressSquares reports whether SquaresFromBF16 drops the positions
// below every bound before it sums: with the AVX-512 bodies, whose
// masked-off sums are left as they are, as a position that adds to no sum
// leaves them.
func compressSquares() bool { return useAVX2 && useAVX512VL && useAVX512BW }

// compressAbove is compressAboveAVX512 over the longest multiple of 16
// and Go over the rest.
func compressAbove(dst, v []float32, gt int32) int {
	m, k := len(v)&^15, 0
	if m > 0 {
		k = compressAboveAVX512(&dst[0], &v[0], m, gt)
	}
	return compressAboveGeneric(dst, v, gt, m, k)
}

// squaresAbove is squaresAboveAVX512 over the longest multiple of 16 and
// Go over the rest.
func squaresAbove(dst []float64, x, v []float32, gt int32) int {
	x = x[:len(v)]
	m, k := len(v)&^15, 0
	if m > 0 {
		k = squaresAboveAVX512(&dst[0], &x[0], &v[0], m, gt)
	}
	return squaresAboveGeneric(dst, x, v, gt, m, k)
}
