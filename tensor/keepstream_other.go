//go:build !amd64 || !gc || purego

package tensor

func subKeepScaleStreamBF16(dst, sum []float32, a, b []uint16, key, at uint64, bound uint32, f, w float32, first, last bool) {
	subKeepScaleStreamBF16Generic(dst, sum, a, b, key, at, bound, f, w, first, last)
}

// subKeepAbsSumsStream has no SIMD body here: it does nothing and leaves
// every element to SubKeepAbsSumsStreamBF16's blocks.
func subKeepAbsSumsStream(all, kept *[16]float64, a, b []uint16, key, at uint64, bound uint32) int {
	return 0
}
