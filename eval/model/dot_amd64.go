//go:build amd64 && gc && !purego

package model

import "golang.org/x/sys/cpu"

// useFMA selects the AVX2+FMA body of dot2x4; tests clear it to run the
// Go reference.
var useFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dot2x4AVX2(x0, x1, w *float32, ws, n int, out *[8]float32)

// dot2x4 sets out[2r+t] to x_t · w[r*ws : r*ws+n] for t < 2, r < 4.
func dot2x4(out *[8]float32, x0, x1, w []float32, ws, n int) {
	n8 := n &^ 7
	if !useFMA || n8 == 0 {
		dot2x4Generic(out, x0, x1, w, ws, n)
		return
	}
	_ = x0[n-1]
	_ = x1[n-1]
	_ = w[3*ws+n-1]
	dot2x4AVX2(&x0[0], &x1[0], &w[0], ws, n8, out)
	if n8 == n {
		return
	}
	for r := range 4 {
		wr := w[r*ws : r*ws+n]
		out[2*r] += dotGeneric(x0[n8:n], wr[n8:])
		out[2*r+1] += dotGeneric(x1[n8:n], wr[n8:])
	}
}

//go:noescape
func dot2xNAVX2(x0, x1, w *float32, ws, n, blocks int, p0, p1 *float32)

// dot2xN sets p0[r] and p1[r], for r < 4·blocks, to x0 and x1 · w[r*ws :
// r*ws+n]: dot2x4 over consecutive blocks of four rows, the same bits.
func dot2xN(p0, p1, x0, x1, w []float32, ws, n, blocks int) {
	if !useFMA || n%8 != 0 || blocks == 0 {
		dot2xNGeneric(p0, p1, x0, x1, w, ws, n, blocks)
		return
	}
	_ = x0[n-1]
	_ = x1[n-1]
	_ = w[(4*blocks-1)*ws+n-1]
	_ = p0[4*blocks-1]
	_ = p1[4*blocks-1]
	dot2xNAVX2(&x0[0], &x1[0], &w[0], ws, n, blocks, &p0[0], &p1[0])
}
