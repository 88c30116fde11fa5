//go:build !amd64 || !gc || purego

package tensor

func subWindowScaleBF16(dst, sum []float32, a, b []uint16, vLo, vHi uint32, rLo, rHi, lo, hi int, w float32, first, last bool) (int, int) {
	return subWindowScaleBF16Generic(dst, sum, a, b, vLo, vHi, rLo, rHi, lo, hi, w, first, last)
}
