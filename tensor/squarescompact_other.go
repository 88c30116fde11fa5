//go:build !amd64 || !gc || purego

package tensor

func compressSquares() bool { return false }

func compressAbove(dst, v []float32, gt int32) int { return compressAboveGeneric(dst, v, gt, 0, 0) }

func squaresAbove(dst []float64, x, v []float32, gt int32) int {
	return squaresAboveGeneric(dst, x, v, gt, 0, 0)
}
