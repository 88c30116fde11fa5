package tensor

import "math"

// Portable references for the kernels in arith.go; each does exactly what the
// exported function's doc comment shows. Callers have checked lengths.
// The explicit float32(...) conversions forbid the compiler from fusing a
// multiply into the following add (Go spec, "Arithmetic operators").

func axpyGeneric(dst []float32, a float32, x []float32) {
	x = x[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		s := x[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		d[0] += float32(a * s[0])
		d[1] += float32(a * s[1])
		d[2] += float32(a * s[2])
		d[3] += float32(a * s[3])
	}
	for ; i < len(dst); i++ {
		dst[i] += float32(a * x[i])
	}
}

func scaleGeneric(dst []float32, a float32) {
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d := dst[i : i+4 : i+4]
		d[0] *= a
		d[1] *= a
		d[2] *= a
		d[3] *= a
	}
	for ; i < len(dst); i++ {
		dst[i] *= a
	}
}

func addGeneric(dst, x []float32) {
	x = x[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		s := x[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += x[i]
	}
}

func subGeneric(dst, a, b []float32) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] - b[i]
	}
}

func dotGeneric(a, b []float32) float64 {
	b = b[:len(a)]
	var s float64
	for i, v := range a {
		s += float64(float64(v) * float64(b[i]))
	}
	return s
}

func sumAbsGeneric(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += math.Abs(float64(v))
	}
	return s
}

func sumSquaresGeneric(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(float64(v) * float64(v))
	}
	return s
}

// addSquaresGeneric adds x[k]², exact in float64, to acc[k].
func addSquaresGeneric(acc []float64, x []float32) {
	x = x[:len(acc)]
	for k, v := range x {
		acc[k] += float64(float64(v) * float64(v))
	}
}

// sumSquaresLanesGeneric adds the squares of x, a whole number of
// SumSquaresBlock elements long, to 16 running sums: element i goes to
// lane i mod 16 (sumSquaresAVX2's main loop with its sums kept).
func sumSquaresLanesGeneric(lanes *[SumSquaresBlock]float64, x []float32) {
	for i := 0; i+SumSquaresBlock <= len(x); i += SumSquaresBlock {
		for j, v := range x[i : i+SumSquaresBlock] {
			lanes[j] += float64(float64(v) * float64(v))
		}
	}
}

func addAgreeingGeneric(sum, weight, x, sign []float32, w float32) {
	x, sign, weight = x[:len(sum)], sign[:len(sum)], weight[:len(sum)]
	wb := math.Float32bits(w)
	for j, v := range x {
		// Branch-free: the signs are random. Adding +0 to a sum of
		// same-signed non-zero values leaves it unchanged.
		agree := b2u(v != 0) &^ (b2u(v < 0) ^ b2u(sign[j] < 0))
		mask := -agree
		sum[j] += math.Float32frombits(math.Float32bits(v) & mask)
		weight[j] += math.Float32frombits(wb & mask)
	}
}

// b2u is 1 for true and 0 for false; the compiler makes it a SETcc.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func divNonZeroGeneric(dst, div []float32) {
	div = div[:len(dst)]
	for i, d := range div {
		if d != 0 {
			dst[i] /= d
		}
	}
}

func keepBelowGeneric(x []float32, draws []uint32, bound uint32) int {
	draws = draws[:len(x)]
	kept := uint32(0)
	for i, d := range draws {
		k := b2u(d < bound)
		x[i] = math.Float32frombits(math.Float32bits(x[i]) & -k)
		kept += k
	}
	return int(kept)
}

func divScalarGeneric(dst []float32, d float32) {
	for i := range dst {
		dst[i] /= d
	}
}

// The fused kernels: the float32 operation, then the rounding of
// roundBF16Scalar or roundF16Scalar, element by element.

func subRoundBF16Generic(dst, a, b []float32) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = roundBF16Scalar(a[i] - b[i])
	}
}

func subRoundF16Generic(dst, a, b []float32) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = roundF16Scalar(a[i] - b[i])
	}
}

func scaleRoundBF16Generic(x []float32, a float32) {
	for i := range x {
		x[i] = roundBF16Scalar(x[i] * a)
	}
}

func scaleRoundF16Generic(x []float32, a float32) {
	for i := range x {
		x[i] = roundF16Scalar(x[i] * a)
	}
}

func axpyRoundBF16Generic(acc []float32, w float32, x []float32) {
	x = x[:len(acc)]
	for i := range acc {
		acc[i] += roundBF16Scalar(w * x[i])
	}
}

func axpyRoundF16Generic(acc []float32, w float32, x []float32) {
	x = x[:len(acc)]
	for i := range acc {
		acc[i] += roundF16Scalar(w * x[i])
	}
}

func divScalarRoundBF16Generic(x []float32, d float32) {
	for i := range x {
		x[i] = roundBF16Scalar(x[i] / d)
	}
}

func divScalarRoundF16Generic(x []float32, d float32) {
	for i := range x {
		x[i] = roundF16Scalar(x[i] / d)
	}
}

func divNonZeroRoundBF16Generic(dst, div []float32) {
	div = div[:len(dst)]
	for i, d := range div {
		v := dst[i]
		if d != 0 {
			v /= d
		}
		dst[i] = roundBF16Scalar(v)
	}
}

func divNonZeroRoundF16Generic(dst, div []float32) {
	div = div[:len(dst)]
	for i, d := range div {
		v := dst[i]
		if d != 0 {
			v /= d
		}
		dst[i] = roundF16Scalar(v)
	}
}

func pruneMagnitudeGeneric(x []float32, thr uint32, ties int) int {
	for j, v := range x {
		u := math.Float32bits(v) &^ (1 << 31)
		if u == thr {
			if ties > 0 {
				ties--
			} else {
				x[j] = 0
			}
			continue
		}
		// Branch-free, the common case: keep is all ones when u > thr.
		x[j] = math.Float32frombits(math.Float32bits(v) & -b2u(u > thr))
	}
	return ties
}

func countMagnitudeGeneric(x []float32, thr uint32) int {
	n := 0
	for _, v := range x {
		n += int(b2u(math.Float32bits(v)&^(1<<31) == thr))
	}
	return n
}

func countAboveWindowGeneric(hist []uint32, x []float32, lo, hi uint32) int {
	n := 0
	for _, v := range x {
		u := math.Float32bits(v) &^ (1 << 31)
		// Branch-free for the count: around the median, u > hi is a coin
		// toss. Only the rare window elements take the branch (u-lo wraps
		// for u < lo).
		n += int(b2u(u > hi))
		if u-lo <= hi-lo {
			hist[u-lo]++
		}
	}
	return n
}

// splitMixGolden is SplitMix64's increment, 2⁶⁴/φ rounded to odd.
const splitMixGolden = 0x9e3779b97f4a7c15

// splitMix64Mix is SplitMix64's output function (Stafford's Mix13 variant).
func splitMix64Mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func splitMix64Generic(dst []uint64, key, ctr uint64) {
	s := key + ctr*splitMixGolden
	for i := range dst {
		s += splitMixGolden
		dst[i] = splitMix64Mix(s)
	}
}

// subBF16Generic widens a and b from bfloat16, subtracts and rounds each
// difference to bfloat16.
func subBF16Generic(dst []float32, a, b []uint16) {
	for i := range dst {
		x := math.Float32frombits(uint32(a[i]) << 16)
		y := math.Float32frombits(uint32(b[i]) << 16)
		dst[i] = roundBF16Scalar(x - y)
	}
}

func divMulRoundBF16Generic(dst, a, b []float32, da, db float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = roundBF16Scalar(roundBF16Scalar(a[i]/da) * roundBF16Scalar(b[i]/db))
	}
}

func combineDivRoundBF16Generic(dst, a, b, base []float32, ca, cb, d float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	if base == nil {
		for i := range dst {
			dst[i] = roundBF16Scalar(roundBF16Scalar(roundBF16Scalar(ca*a[i])+roundBF16Scalar(cb*b[i])) / d)
		}
		return
	}
	base = base[:len(dst)]
	for i := range dst {
		v := roundBF16Scalar(roundBF16Scalar(roundBF16Scalar(ca*a[i])+roundBF16Scalar(cb*b[i])) / d)
		dst[i] = roundBF16Scalar(v + base[i])
	}
}

func divMulRoundVecBF16Generic(dst, a, b, da, db []float32) {
	a, b, da, db = a[:len(dst)], b[:len(dst)], da[:len(dst)], db[:len(dst)]
	for i := range dst {
		dst[i] = roundBF16Scalar(roundBF16Scalar(a[i]/da[i]) * roundBF16Scalar(b[i]/db[i]))
	}
}

func combineDivRoundVecBF16Generic(dst, a, b, ca, cb, d []float32) {
	a, b, ca, cb, d = a[:len(dst)], b[:len(dst)], ca[:len(dst)], cb[:len(dst)], d[:len(dst)]
	for i := range dst {
		dst[i] = roundBF16Scalar(roundBF16Scalar(roundBF16Scalar(ca[i]*a[i])+roundBF16Scalar(cb[i]*b[i])) / d[i])
	}
}
