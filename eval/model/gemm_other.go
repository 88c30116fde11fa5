//go:build !amd64 || !gc || purego

package model

var useAVX512 = false

func gemm8x32(xs *[8][]float32, panel []float32, k int, out *[256]float32) {
	gemm8x32Generic(xs, panel, k, out)
}
