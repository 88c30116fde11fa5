//go:build amd64 && gc && !purego

package tensor

import "golang.org/x/sys/cpu"

// The kernels the rest of the package calls. Each runs its AVX2 body
// (kernels_amd64.s) on the longest prefix that is a whole number of vectors
// and its portable Go reference (the *Generic functions) on the rest, or on
// everything when the CPU lacks the instructions. The build tag purego
// switches the assembly off (dispatch_other.go).
//
// The element-wise bodies agree with the references bit for bit, NaN
// payloads included. The reductions (dot, sumAbs, sumSquares) add in another
// order, so their float64 sums may differ in the last bits; see arith.go.

// useAVX2 selects the AVX2 bodies of the BF16 and float32 kernels, useF16C
// the AVX2+F16C bodies of the F16 ones. Tests clear them to run the
// references.
var (
	useAVX2 = cpu.X86.HasAVX2
	useF16C = cpu.X86.HasAVX2 && cpu.X86.HasF16C
)

// useAVX512 selects the AVX-512 body of SplitMix64, when useAVX2 is set
// too (so that tests clearing useAVX2 run the reference).
var useAVX512 = cpu.X86.HasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

func decodeBF16(dst []float32, src []uint16) {
	if useAVX2 {
		n := len(dst) &^ 7
		decodeBF16AVX2(dst[:n], src[:n])
		dst, src = dst[n:], src[n:]
	}
	decodeBF16Generic(dst, src)
}

func encodeBF16(dst []uint16, src []float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		encodeBF16AVX2(dst[:n], src[:n])
		dst, src = dst[n:], src[n:]
	}
	encodeBF16Generic(dst, src)
}

func roundBF16(x []float32) {
	if useAVX2 {
		n := len(x) &^ 7
		roundBF16AVX2(x[:n])
		x = x[n:]
	}
	roundBF16Generic(x)
}

func decodeF16(dst []float32, src []uint16) {
	if useF16C {
		n := len(dst) &^ 7
		decodeF16AVX2(dst[:n], src[:n])
		dst, src = dst[n:], src[n:]
	}
	decodeF16Generic(dst, src)
}

func encodeF16(dst []uint16, src []float32) {
	if useF16C {
		n := len(dst) &^ 7
		encodeF16AVX2(dst[:n], src[:n])
		dst, src = dst[n:], src[n:]
	}
	encodeF16Generic(dst, src)
}

func roundF16(x []float32) {
	if useF16C {
		n := len(x) &^ 7
		roundF16AVX2(x[:n])
		x = x[n:]
	}
	roundF16Generic(x)
}

func axpy(dst []float32, a float32, x []float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		axpyAVX2(dst[:n], a, x[:n])
		dst, x = dst[n:], x[n:]
	}
	axpyGeneric(dst, a, x)
}

func scale(dst []float32, a float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		scaleAVX2(dst[:n], a)
		dst = dst[n:]
	}
	scaleGeneric(dst, a)
}

func add(dst, x []float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		addAVX2(dst[:n], x[:n])
		dst, x = dst[n:], x[n:]
	}
	addGeneric(dst, x)
}

func sub(dst, a, b []float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		subAVX2(dst[:n], a[:n], b[:n])
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	subGeneric(dst, a, b)
}

func dot(a, b []float32) float64 {
	if !useAVX2 {
		return dotGeneric(a, b)
	}
	n := len(a) &^ 3
	return dotAVX2(a[:n], b[:n]) + dotGeneric(a[n:], b[n:])
}

func sumAbs(x []float32) float64 {
	if !useAVX2 {
		return sumAbsGeneric(x)
	}
	n := len(x) &^ 3
	return sumAbsAVX2(x[:n]) + sumAbsGeneric(x[n:])
}

func sumSquares(x []float32) float64 {
	if !useAVX2 {
		return sumSquaresGeneric(x)
	}
	n := len(x) &^ 3
	return sumSquaresAVX2(x[:n]) + sumSquaresGeneric(x[n:])
}

func addSquares(acc []float64, x []float32) { addSquaresGeneric(acc, x) }

func sumSquaresLanes(lanes *[SumSquaresBlock]float64, x []float32) {
	if useAVX2 {
		sumSquaresLanesAVX2(lanes, x)
		return
	}
	sumSquaresLanesGeneric(lanes, x)
}

func addAgreeing(sum, weight, x, sign []float32, w float32) {
	if useAVX2 {
		n := len(sum) &^ 7
		addAgreeingAVX2(sum[:n], weight[:n], x[:n], sign[:n], w)
		sum, weight, x, sign = sum[n:], weight[n:], x[n:], sign[n:]
	}
	addAgreeingGeneric(sum, weight, x, sign, w)
}

func divNonZero(dst, div []float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		divNonZeroAVX2(dst[:n], div[:n])
		dst, div = dst[n:], div[n:]
	}
	divNonZeroGeneric(dst, div)
}

func keepBelow(x []float32, draws []uint32, bound uint32) int {
	kept := 0
	if useAVX2 {
		n := len(x) &^ 7
		kept = keepBelowAVX2(x[:n], draws[:n], bound)
		x, draws = x[n:], draws[n:]
	}
	return kept + keepBelowGeneric(x, draws, bound)
}

func divScalar(dst []float32, d float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		divScalarAVX2(dst[:n], d)
		dst = dst[n:]
	}
	divScalarGeneric(dst, d)
}

func subRoundBF16(dst, a, b []float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		subRoundBF16AVX2(dst[:n], a[:n], b[:n])
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	subRoundBF16Generic(dst, a, b)
}

func subRoundF16(dst, a, b []float32) {
	if useF16C {
		n := len(dst) &^ 7
		subRoundF16AVX2(dst[:n], a[:n], b[:n])
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	subRoundF16Generic(dst, a, b)
}

func scaleRoundBF16(x []float32, a float32) {
	if useAVX2 {
		n := len(x) &^ 7
		scaleRoundBF16AVX2(x[:n], a)
		x = x[n:]
	}
	scaleRoundBF16Generic(x, a)
}

func scaleRoundF16(x []float32, a float32) {
	if useF16C {
		n := len(x) &^ 7
		scaleRoundF16AVX2(x[:n], a)
		x = x[n:]
	}
	scaleRoundF16Generic(x, a)
}

func axpyRoundBF16(acc []float32, w float32, x []float32) {
	if useAVX2 {
		n := len(acc) &^ 7
		axpyRoundBF16AVX2(acc[:n], w, x[:n])
		acc, x = acc[n:], x[n:]
	}
	axpyRoundBF16Generic(acc, w, x)
}

func axpyRoundF16(acc []float32, w float32, x []float32) {
	if useF16C {
		n := len(acc) &^ 7
		axpyRoundF16AVX2(acc[:n], w, x[:n])
		acc, x = acc[n:], x[n:]
	}
	axpyRoundF16Generic(acc, w, x)
}

func divScalarRoundBF16(x []float32, d float32) {
	if useAVX2 {
		n := len(x) &^ 7
		divScalarRoundBF16AVX2(x[:n], d)
		x = x[n:]
	}
	divScalarRoundBF16Generic(x, d)
}

func divScalarRoundF16(x []float32, d float32) {
	if useF16C {
		n := len(x) &^ 7
		divScalarRoundF16AVX2(x[:n], d)
		x = x[n:]
	}
	divScalarRoundF16Generic(x, d)
}

func divNonZeroRoundBF16(dst, div []float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		divNonZeroRoundBF16AVX2(dst[:n], div[:n])
		dst, div = dst[n:], div[n:]
	}
	divNonZeroRoundBF16Generic(dst, div)
}

func divNonZeroRoundF16(dst, div []float32) {
	if useF16C {
		n := len(dst) &^ 7
		divNonZeroRoundF16AVX2(dst[:n], div[:n])
		dst, div = dst[n:], div[n:]
	}
	divNonZeroRoundF16Generic(dst, div)
}

// pruneMagnitude hands the one vector where the assembly cannot decide
// which lanes equal to thr to keep (some but not all of them) to Go, and
// the assembly goes on with the ties used up. A thr of 2^31 or more (no
// magnitude reaches it) is left to Go, where the signed compare would fail.
func pruneMagnitude(x []float32, thr uint32, ties int) int {
	if useAVX2 && thr < 1<<31 {
		for {
			n := len(x) &^ 7
			done, left := pruneMagnitudeAVX2(x[:n], thr, ties)
			ties, x = left, x[done:]
			if done == n {
				break
			}
			ties = pruneMagnitudeGeneric(x[:8], thr, ties)
			x = x[8:]
		}
	}
	return pruneMagnitudeGeneric(x, thr, ties)
}

// countMagnitude passes the assembly at most 2^30 elements at a time, so
// that its 32-bit counts cannot overflow.
func countMagnitude(x []float32, thr uint32) int {
	if !useAVX2 {
		return countMagnitudeGeneric(x, thr)
	}
	c := 0
	for len(x) >= 8 {
		n := min(len(x), 1<<30) &^ 7
		c += countMagnitudeAVX2(x[:n], thr)
		x = x[n:]
	}
	return c + countMagnitudeGeneric(x, thr)
}

// countAboveWindow hands the assembly, whose compares are signed, bounds
// below 2^31: a window starting at 2^31 or above holds no magnitude and has
// none above it, and a hi above 2^31-1 counts as 2^31-1 (no magnitude is
// above either). Like countMagnitude it passes at most 2^30 elements at a
// time, so that the assembly's 32-bit counts cannot overflow.
func countAboveWindow(hist []uint32, x []float32, lo, hi uint32) int {
	if !useAVX2 {
		return countAboveWindowGeneric(hist, x, lo, hi)
	}
	if lo >= 1<<31 {
		return 0
	}
	hi = min(hi, 1<<31-1)
	c := 0
	for len(x) >= 8 {
		n := min(len(x), 1<<30) &^ 7
		c += countAboveWindowAVX2(hist, x[:n], lo, hi)
		x = x[n:]
	}
	return c + countAboveWindowGeneric(hist, x, lo, hi)
}

// splitMix64 hands the assembly the state of its first draw, from which
// lane i adds i increments.
func splitMix64(dst []uint64, key, ctr uint64) {
	if useAVX2 && useAVX512 {
		n := len(dst) &^ 7
		splitMix64AVX512(dst[:n], key+(ctr+1)*splitMixGolden)
		dst, ctr = dst[n:], ctr+uint64(n)
	}
	if useAVX2 {
		n := len(dst) &^ 3
		splitMix64AVX2(dst[:n], key+(ctr+1)*splitMixGolden)
		dst, ctr = dst[n:], ctr+uint64(n)
	}
	splitMix64Generic(dst, key, ctr)
}

func subBF16(dst []float32, a, b []uint16) {
	if useAVX2 && useAVX512BF16 {
		n := len(dst) &^ 31
		subBF16CVT(dst[:n], a[:n], b[:n])
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	if useAVX2 && useAVX512BW {
		n := len(dst) &^ 15
		subBF16AVX512(dst[:n], a[:n], b[:n])
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	if useAVX2 {
		n := len(dst) &^ 7
		subBF16AVX2(dst[:n], a[:n], b[:n])
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	subBF16Generic(dst, a, b)
}

func divMulRoundBF16(dst, a, b []float32, da, db float32) {
	if useAVX2 && useAVX512 {
		n := len(dst) &^ 15
		divMulRoundBF16AVX512(dst[:n], a[:n], b[:n], da, db)
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	if useAVX2 {
		n := len(dst) &^ 7
		divMulRoundBF16AVX2(dst[:n], a[:n], b[:n], da, db)
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	divMulRoundBF16Generic(dst, a, b, da, db)
}

// combineDivRoundBF16 passes the assembly an empty base for none.
func combineDivRoundBF16(dst, a, b, base []float32, ca, cb, d float32) {
	if useAVX2 && useAVX512 {
		n := len(dst) &^ 15
		var bs []float32
		if base != nil {
			bs, base = base[:n], base[n:]
		}
		combineDivRoundBF16AVX512(dst[:n], a[:n], b[:n], bs, ca, cb, d)
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	if useAVX2 {
		n := len(dst) &^ 7
		var bs []float32
		if base != nil {
			bs, base = base[:n], base[n:]
		}
		combineDivRoundBF16AVX2(dst[:n], a[:n], b[:n], bs, ca, cb, d)
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	combineDivRoundBF16Generic(dst, a, b, base, ca, cb, d)
}

func divMulRoundVecBF16(dst, a, b, da, db []float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		divMulRoundVecBF16AVX2(dst[:n], a[:n], b[:n], da[:n], db[:n])
		dst, a, b, da, db = dst[n:], a[n:], b[n:], da[n:], db[n:]
	}
	divMulRoundVecBF16Generic(dst, a, b, da, db)
}

func combineDivRoundVecBF16(dst, a, b, ca, cb, d []float32) {
	if useAVX2 {
		n := len(dst) &^ 7
		combineDivRoundVecBF16AVX2(dst[:n], a[:n], b[:n], ca[:n], cb[:n], d[:n])
		dst, a, b, ca, cb, d = dst[n:], a[n:], b[n:], ca[n:], cb[n:], d[n:]
	}
	combineDivRoundVecBF16Generic(dst, a, b, ca, cb, d)
}
