//go:build !amd64 || !gc || purego

package tensor

func keepBitsScaleRoundBF16(x []float32, mask []uint64, a float32) {
	keepBitsScaleRoundBF16Generic(x, mask, 0, a)
}
