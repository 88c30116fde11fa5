//go:build !amd64 || !gc || purego

package tensor

// subCountWindow has no SIMD body here: it does nothing and leaves every
// element to SubCountAboveWindowBF16's blocks.
func subCountWindow(win []uint32, a, b []uint16, lo, hi uint32) (done, above int) {
	return 0, 0
}
