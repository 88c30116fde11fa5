//go:build !amd64 || !gc || purego

package tensor

// eraseMerge has no SIMD body here: it does nothing and leaves every
// element to eraseMergeBF16Generic.
func eraseMerge(out []float32, xs [][]byte, base []byte, mask []uint64, q []float32, eps float32) int {
	return 0
}
