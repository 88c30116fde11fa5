//go:build amd64 && gc && !purego

package model

//go:noescape
func siluMulAVX2(x, u, e *float32, n int)

// siluMul is siluMulGeneric, eight at a time on AVX2.
func siluMul(g, u, e []float32) {
	n8 := len(g) &^ 7
	if !useFMA || n8 == 0 {
		siluMulGeneric(g, u, e)
		return
	}
	u, e = u[:len(g)], e[:len(g)]
	siluMulAVX2(&g[0], &u[0], &e[0], n8)
	siluMulGeneric(g[n8:], u[n8:], e[n8:])
}
