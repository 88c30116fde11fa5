//go:build !amd64 || !gc || purego

package tensor

func mulWidenBF16(dst []float64, x, y []float32) { mulWidenBF16Generic(dst, x, y) }

func addRows(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, rows, n int) {
	addRowsGeneric(acc, buf, rows, n)
}
