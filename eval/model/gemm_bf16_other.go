//go:build !amd64 || !gc || purego

package model

var hasBF16Dot = false

func gemm8x32BF16(xs *[8][]uint32, panel []uint32, k int, out *[256]float32) {
	gemm8x32BF16Generic(xs, panel, k, out)
}

func pairRow(d []uint32, x []float32) { pairRowGeneric(d, x) }

func packPanelBF16(w *matrix, panel []uint32, lo, k0, k1 int) bool { return false }
