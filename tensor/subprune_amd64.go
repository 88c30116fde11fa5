//go:build amd64 && gc && !purego

package tensor

// subPruneScaleBF16AVX2 is subPruneScaleBF16Generic on eight lanes for a
// length that is a multiple of 8 and min in [0, 1<<31].
//
//go:noescape
func subPruneScaleBF16AVX2(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool)

func subPruneScaleBF16(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool) {
	if useAVX2 {
		n := len(dst) &^ 7
		subPruneScaleBF16AVX2(dst[:n], sum[:n], a[:n], b[:n], min, w, first, last)
		dst, sum, a, b = dst[n:], sum[n:], a[n:], b[n:]
	}
	subPruneScaleBF16Generic(dst, sum, a, b, min, w, first, last)
}

// subKeepScaleBF16AVX2 is subKeepScaleBF16Generic on eight lanes for a
// length that is a multiple of 8.
//
//go:noescape
func subKeepScaleBF16AVX2(dst, sum []float32, a, b []uint16, draws []uint32, bound uint32, f, w float32, first, last bool)

func subKeepScaleBF16(dst, sum []float32, a, b []uint16, draws []uint32, bound uint32, f, w float32, first, last bool) {
	if useAVX2 {
		n := len(dst) &^ 7
		subKeepScaleBF16AVX2(dst[:n], sum[:n], a[:n], b[:n], draws[:n], bound, f, w, first, last)
		dst, sum, a, b, draws = dst[n:], sum[n:], a[n:], b[n:], draws[n:]
	}
	subKeepScaleBF16Generic(dst, sum, a, b, draws, bound, f, w, first, last)
}
