//go:build !amd64 || !gc || purego

package tensor

func subKeepBitsScaleBF16(dst, sum []float32, a, b []uint16, mask []uint64, f, w float32, first, last bool) {
	subKeepBitsScaleBF16Generic(dst, sum, a, b, mask, 0, f, w, first, last)
}
