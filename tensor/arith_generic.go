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
