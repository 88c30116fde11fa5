package model

import "math"

// The float32 exponential of expSum: Cephes' expf, range-reduced by
// powers of two (x = n·ln2 + r, |r| ≤ ln2/2) and a degree-6 polynomial in
// r, relative error below 2e-7. The assembly body evaluates the same
// steps with fused multiply-adds.
const (
	expLo    = -87.33654 // exp below this is under float32's normal range
	expLog2e = 1.44269504088896341
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
)

// exp32 is e^x for x ≤ 0 (larger x are not asked for), NaN for NaN.
func exp32(x float32) float32 {
	if x != x {
		return x
	}
	x = max(x, expLo)
	n := float32(math.RoundToEven(float64(x * expLog2e)))
	r := x - n*expC1 - n*expC2
	p := ((((expP0*r+expP1)*r+expP2)*r+expP3)*r+expP4)*r + expP5
	p = p*(r*r) + r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// expSumGeneric returns Σ e^(x[i]-m) in float32.
func expSumGeneric(x []float32, m float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += exp32(x[i] - m)
		s1 += exp32(x[i+1] - m)
		s2 += exp32(x[i+2] - m)
		s3 += exp32(x[i+3] - m)
	}
	for ; i < len(x); i++ {
		s0 += exp32(x[i] - m)
	}
	return (s0 + s1) + (s2 + s3)
}

// expStoreGeneric replaces x[i] by e^(x[i]-m) and returns their sum in
// float32.
func expStoreGeneric(x []float32, m float32) float32 {
	var s float32
	for i, v := range x {
		x[i] = exp32(v - m)
		s += x[i]
	}
	return s
}

// maxGeneric returns the largest element of a non-empty x.
func maxGeneric(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	return m
}

// mulF64Generic is the Go reference of mulF64: x[i] = float32(float64(x[i])
// * s), the product rounded once to float64 and then to float32.
func mulF64Generic(x []float32, s float64) {
	for i, w := range x {
		x[i] = float32(float64(w) * s)
	}
}
