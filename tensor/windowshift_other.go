//go:build !amd64 || !gc || purego

package tensor

func countAboveWindowShift(hist []uint32, x []float32, lo, hi uint32, shift uint) int {
	return countAboveWindowShiftGeneric(hist, x, lo, hi, shift)
}
