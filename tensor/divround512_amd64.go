//go:build amd64 && gc && !purego

package tensor

// divMulRoundBF16AVX512 is divMulRoundBF16AVX2 on 16 lanes (AVX-512F) for
// a length that is a multiple of 16: the same instructions in the same
// operand orders, BF16ROUND512 for BF16ROUNDF.
//
//go:noescape
func divMulRoundBF16AVX512(dst, a, b []float32, da, db float32)

// combineDivRoundBF16AVX512 is combineDivRoundBF16AVX2 on 16 lanes
// (AVX-512F) for a length that is a multiple of 16; an empty base (len 0)
// adds none.
//
//go:noescape
func combineDivRoundBF16AVX512(dst, a, b, base []float32, ca, cb, d float32)
