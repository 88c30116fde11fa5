//go:build !amd64 || !gc || purego

package tensor

// subVariance has no SIMD body here: it does nothing and leaves every
// element to subVarianceBF16Generic.
func subVariance(v []float32, tvs [][]float32, xs [][]byte, base []byte, mins []uint32) (done, nonzero int) {
	return 0, 0
}
