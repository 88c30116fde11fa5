//go:build !amd64 || !gc || purego

package tensor

func subPruneScaleBF16(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool) {
	subPruneScaleBF16Generic(dst, sum, a, b, min, w, first, last)
}
