//go:build !amd64 || !gc || purego

package tensor

func widenedVariance(dst []float32, xs [][]float32, off int, m float64) {
	widenedVarianceGeneric(dst, xs, off, m)
}
