//go:build !amd64 || !gc || purego

package tensor

func keepMagnitudeWindow(x []float32, vLo, vHi uint32, rLo, rHi, lo, hi int) (int, int) {
	return keepMagnitudeWindowGeneric(x, vLo, vHi, rLo, rHi, lo, hi)
}
