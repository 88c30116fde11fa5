//go:build !amd64 || !gc || purego

package tensor

func keepBits(x []float32, bits []uint64) { keepBitsGeneric(x, bits, 0) }

func keepBitsScaleRoundBF16(x []float32, bits []uint64, a float32) {
	keepBitsScaleRoundBF16Generic(x, bits, 0, a)
}
