//go:build !amd64 || !gc || purego

package tensor

// subKeepAbsSums has no SIMD body here: it does nothing and leaves every
// element to SubKeepAbsSumsBF16's blocks.
func subKeepAbsSums(all, kept *[16]float64, a, b []uint16, draws []uint32, bound uint32) int {
	return 0
}
