package tensor

// varianceBlock is how many elements Variance handles at a time: its two
// float64 accumulators then stay in the L1 cache.
const varianceBlock = 512

// Variance writes into dst, for every position j, the population variance
// of xs[0][j], …, xs[m-1][j] rounded to work, and returns how many of the
// results are non-zero. It computes in float64 and in model order:
//
//	var mean float64
//	for _, x := range xs {
//		mean += float64(x[j])
//	}
//	mean /= m
//	var ss float64
//	for _, x := range xs {
//		d := float64(x[j]) - mean
//		ss += d * d
//	}
//	dst[j] = RoundScalar(work, float32(ss/m))
//
// A NaN result may carry another payload than that loop's. Every x must
// be at least as long as dst; xs must not be empty.
func Variance(work DType, dst []float32, xs [][]float32) (nonzero int) {
	for _, x := range xs {
		_ = x[:len(dst)]
	}
	m := float64(len(xs))
	for lo := 0; lo < len(dst); lo += varianceBlock {
		v := dst[lo:min(len(dst), lo+varianceBlock)]
		widenedVariance(v, xs, lo, m)
		Round(work, v)
		nonzero += len(v) - countMagnitude(v, 0) // ±0 have magnitude bits 0
	}
	return nonzero
}

// widenedVarianceGeneric writes float32(ss/m) for positions off … off +
// len(dst) of xs into dst (len(dst) ≤ varianceBlock), in steps over the
// whole block: the float64 means, then the sums of squared differences.
func widenedVarianceGeneric(dst []float32, xs [][]float32, off int, m float64) {
	var mean, ss [varianceBlock]float64
	n := len(dst)
	mu, s := mean[:n], ss[:n]
	for _, x := range xs {
		addWidenGeneric(mu, x[off:off+n])
	}
	divF64Generic(mu, m)
	for _, x := range xs {
		addSquaredDiffGeneric(s, mu, x[off:off+n])
	}
	narrowDivGeneric(dst, s, m)
}

// addWidenGeneric adds x, widened to float64, to acc.
func addWidenGeneric(acc []float64, x []float32) {
	x = x[:len(acc)]
	for j := range acc {
		acc[j] += float64(x[j])
	}
}

func divF64Generic(x []float64, d float64) {
	for j := range x {
		x[j] /= d
	}
}

// addSquaredDiffGeneric adds (x − mean)², in float64, to ss.
func addSquaredDiffGeneric(ss, mean []float64, x []float32) {
	mean, x = mean[:len(ss)], x[:len(ss)]
	for j := range ss {
		d := float64(x[j]) - mean[j]
		ss[j] += d * d
	}
}

// narrowDivGeneric writes float32(ss/d) into dst.
func narrowDivGeneric(dst []float32, ss []float64, d float64) {
	ss = ss[:len(dst)]
	for j := range dst {
		dst[j] = float32(ss[j] / d)
	}
}
