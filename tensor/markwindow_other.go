//go:build !amd64 || !gc || purego

package tensor

// markWindow has no SIMD body here: it marks no word and leaves them all
// to markWindowGeneric.
func markWindow(over, inside []uint64, x []float32, lo, hi uint32) int { return 0 }
