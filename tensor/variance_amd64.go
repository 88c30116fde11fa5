//go:build amd64 && gc && !purego

package tensor

// Variance's steps run their AVX2 bodies (variance_amd64.s) on four float64
// lanes over the longest prefix that is a whole number of vectors, and the
// Go references on the rest. Each lane does the reference's operations in
// its order (VCVTPS2PD widens exactly, VADDPD, VSUBPD, VMULPD and VDIVPD
// round as the scalar SSE instructions do, VCVTPD2PS as CVTSD2SS), so the
// results agree bit for bit.

func addWiden(acc []float64, x []float32) {
	if useAVX2 {
		n := len(acc) &^ 3
		addWidenAVX2(acc[:n], x[:n])
		acc, x = acc[n:], x[n:]
	}
	addWidenGeneric(acc, x)
}

func divF64(x []float64, d float64) {
	if useAVX2 {
		n := len(x) &^ 3
		divF64AVX2(x[:n], d)
		x = x[n:]
	}
	divF64Generic(x, d)
}

func addSquaredDiff(ss, mean []float64, x []float32) {
	if useAVX2 {
		n := len(ss) &^ 3
		addSquaredDiffAVX2(ss[:n], mean[:n], x[:n])
		ss, mean, x = ss[n:], mean[n:], x[n:]
	}
	addSquaredDiffGeneric(ss, mean, x)
}

func narrowDiv(dst []float32, ss []float64, d float64) {
	if useAVX2 {
		n := len(dst) &^ 3
		narrowDivAVX2(dst[:n], ss[:n], d)
		dst, ss = dst[n:], ss[n:]
	}
	narrowDivGeneric(dst, ss, d)
}

//go:noescape
func addWidenAVX2(acc []float64, x []float32)

//go:noescape
func divF64AVX2(x []float64, d float64)

//go:noescape
func addSquaredDiffAVX2(ss, mean []float64, x []float32)

//go:noescape
func narrowDivAVX2(dst []float32, ss []float64, d float64)
