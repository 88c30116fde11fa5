//go:build amd64 && gc && !purego

package model

import "golang.org/x/sys/cpu"

// useAVX512 selects the packed AVX-512 matrix product for prompt
// processing; tests clear it to run the Go reference.
var useAVX512 = cpu.X86.HasAVX512F

//go:noescape
func gemm8x32AVX512(xs *[8]*float32, panel *float32, k int, out *[256]float32)

// gemm8x32 sets out[32i+j] to xs[i][:k] · (column j of the panel).
func gemm8x32(xs *[8][]float32, panel []float32, k int, out *[256]float32) {
	if !useAVX512 {
		gemm8x32Generic(xs, panel, k, out)
		return
	}
	_ = panel[32*k-1]
	var ps [8]*float32
	for i, x := range xs {
		_ = x[k-1]
		ps[i] = &x[0]
	}
	gemm8x32AVX512(&ps, &panel[0], k, out)
}
