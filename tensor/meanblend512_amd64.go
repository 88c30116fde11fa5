//go:build amd64 && gc && !purego

package tensor

// meanBlendBF16AVX512 is meanBlendBF16AVX2 on 16 lanes (AVX-512F and BW)
// for a len(out) that is a multiple of 16, with the same instructions in
// the same operand orders and BF16ROUND512 for BF16ROUNDF.
//
//go:noescape
func meanBlendBF16AVX512(out []float32, xs [][]byte, base []byte, m, ratio, keep float32)

// meanBlendBF16Wide runs meanBlendBF16AVX512 on the longest multiple of 16
// of out and returns how many elements it did: none without AVX-512BW.
func meanBlendBF16Wide(out []float32, xs [][]byte, base []byte, ratio, keep float32) int {
	n := len(out) &^ 15
	if !useAVX512BW || n == 0 {
		return 0
	}
	meanBlendBF16AVX512(out[:n], xs, base, float32(len(xs)), ratio, keep)
	return n
}
