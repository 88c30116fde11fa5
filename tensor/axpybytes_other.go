//go:build !amd64 || !gc || purego

package tensor

func axpyRoundBF16Stored(acc []float32, w float32, x []uint16) {
	axpyRoundBF16StoredGeneric(acc, w, x)
}
