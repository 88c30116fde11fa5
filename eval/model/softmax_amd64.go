//go:build amd64 && gc && !purego

package model

//go:noescape
func expSumAVX2(x *float32, n int, m float32) float32

//go:noescape
func expStoreAVX2(x *float32, n int, m float32) float32

//go:noescape
func maxAVX2(x *float32, n int) float32

// expSum returns Σ e^(x[i]-m) in float32; every x[i]-m must be ≤ 0 or
// NaN.
func expSum(x []float32, m float32) float32 {
	n8 := len(x) &^ 7
	if !useFMA || n8 == 0 {
		return expSumGeneric(x, m)
	}
	return expSumAVX2(&x[0], n8, m) + expSumGeneric(x[n8:], m)
}

// maxF32 returns the largest element of a non-empty x.
func maxF32(x []float32) float32 {
	n8 := len(x) &^ 7
	if !useFMA || n8 == 0 {
		return maxGeneric(x)
	}
	m := maxAVX2(&x[0], n8)
	if n8 < len(x) {
		m = max(m, maxGeneric(x[n8:]))
	}
	return m
}

// expStore replaces x[i] by e^(x[i]-m) and returns their sum in float32;
// every x[i]-m must be ≤ 0 or NaN.
func expStore(x []float32, m float32) float32 {
	n8 := len(x) &^ 7
	if !useFMA || n8 == 0 {
		return expStoreGeneric(x, m)
	}
	return expStoreAVX2(&x[0], n8, m) + expStoreGeneric(x[n8:], m)
}

//go:noescape
func mulF64AVX2(x *float32, n int, s float64)

// mulF64 sets x[i] to float32(float64(x[i]) * s).
func mulF64(x []float32, s float64) {
	n4 := len(x) &^ 3
	if !useFMA || n4 == 0 {
		mulF64Generic(x, s)
		return
	}
	mulF64AVX2(&x[0], n4, s)
	mulF64Generic(x[n4:], s)
}
