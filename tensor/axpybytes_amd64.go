//go:build amd64 && gc && !purego

package tensor

func axpyRoundBF16Stored(acc []float32, w float32, x []uint16) {
	if useAVX2 {
		n := len(acc) &^ 7
		axpyRoundBF16StoredAVX2(acc[:n], w, x[:n])
		acc, x = acc[n:], x[n:]
	}
	axpyRoundBF16StoredGeneric(acc, w, x)
}

// axpyRoundBF16StoredAVX2 is axpyRoundBF16AVX2 with x widened from
// bfloat16 (VPMOVZXWD, VPSLLD) as it is loaded; len(acc) is a multiple
// of 8.
//
//go:noescape
func axpyRoundBF16StoredAVX2(acc []float32, w float32, x []uint16)
