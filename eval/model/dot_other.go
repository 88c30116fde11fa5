//go:build !amd64 || !gc || purego

package model

var useFMA = false

func dot2x4(out *[8]float32, x0, x1, w []float32, ws, n int) { dot2x4Generic(out, x0, x1, w, ws, n) }

func dot2xN(p0, p1, x0, x1, w []float32, ws, n, blocks int) {
	dot2xNGeneric(p0, p1, x0, x1, w, ws, n, blocks)
}
