//go:build !amd64 || !gc || purego

package tensor

func keepBits(x []float32, mask []uint64) { keepBitsGeneric(x, mask) }
