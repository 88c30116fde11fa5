//go:build amd64 && gc && !purego

package tensor

import "math"

// Variance runs its AVX2 body (variance_amd64.s) on four float64 lanes.
// Each lane does the reference's operations in its order (VCVTPS2PD widens
// exactly, VADDPD, VSUBPD, VMULPD and VDIVPD round as the scalar SSE
// instructions do, VCVTPD2PS as CVTSD2SS), so the results agree bit for
// bit, NaN payloads aside.

// widenedVariance runs the whole computation of four positions in
// registers (varianceAVX2: every input's four values widened and added,
// divided, then every squared difference added and divided) on the
// longest prefix that is a whole number of vectors, and the steps on the
// rest (fewer than four positions).
func widenedVariance(dst []float32, xs [][]float32, off int, m float64) {
	if useAVX2 {
		n := len(dst) &^ 3
		if n > 0 {
			if f, e := math.Frexp(m); f == 0.5 {
				// m = 2^(e-1): dividing is multiplying by 2^(1-e),
				// exactly, NaN payloads, subnormals and signs included.
				varianceAVX2(dst[:n], xs, off, math.Ldexp(1, 1-e), true)
			} else {
				varianceAVX2(dst[:n], xs, off, m, false)
			}
		}
		dst, off = dst[n:], off+n
		if len(dst) == 0 {
			return // widenedVarianceGeneric clears 8 KiB of sums even for nothing
		}
	}
	widenedVarianceGeneric(dst, xs, off, m)
}

// varianceAVX2 writes float32(ss/m) for positions off … off+len(dst) of
// the inputs xs (each at least that long) into dst; len(dst) is a multiple
// of 4 and xs is not empty. With mul, m is r = 1/m' for m' a power of
// two, and each division by m' is a multiplication by r: the quotients
// are the same correctly rounded values.
//
//go:noescape
func varianceAVX2(dst []float32, xs [][]float32, off int, m float64, mul bool)
