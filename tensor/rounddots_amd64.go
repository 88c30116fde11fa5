//go:build amd64 && gc && !purego

package tensor

// mulWidenBF16AVX2 writes float64(RoundBF16(x[j]*y[j])) into dst[j] for
// the whole dst, a multiple of 8 long: VMULPS with x as the first operand
// (as MULSS in x[j]*y[j], which keeps x's payload of two NaNs), BF16ROUNDF,
// and VCVTPS2PD, which widens exactly (quieting a NaN, as CVTSS2SD).
//
//go:noescape
func mulWidenBF16AVX2(dst []float64, x, y *float32)

// addRows4AVX2 … addRows12AVX2 add the first n elements of the first 4 …
// 12 rows of buf (rows of dotsBlock) to acc in index order, each row's
// sum one chain of VADDSD with the sum as first operand (as ADDSD in
// s += v), the chains interleaved.
//
//go:noescape
func addRows4AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)

//go:noescape
func addRows6AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)

//go:noescape
func addRows8AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)

//go:noescape
func addRows10AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)

//go:noescape
func addRows12AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)

func mulWidenBF16(dst []float64, x, y []float32) {
	y = y[:len(x)]
	dst = dst[:len(x)]
	if useAVX2 {
		if n := len(x) &^ 7; n > 0 {
			mulWidenBF16AVX2(dst[:n], &x[0], &y[0])
			dst, x, y = dst[n:], x[n:], y[n:]
		}
	}
	mulWidenBF16Generic(dst, x, y)
}

// addRows runs the kernel for the fewest rows that covers rows: the rows
// after them add into sums of acc that the caller does not read.
func addRows(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, rows, n int) {
	if !useAVX2 || n == 0 {
		addRowsGeneric(acc, buf, rows, n)
		return
	}
	switch {
	case rows <= 4:
		addRows4AVX2(acc, buf, n)
	case rows <= 6:
		addRows6AVX2(acc, buf, n)
	case rows <= 8:
		addRows8AVX2(acc, buf, n)
	case rows <= 10:
		addRows10AVX2(acc, buf, n)
	default:
		addRows12AVX2(acc, buf, n)
	}
}
