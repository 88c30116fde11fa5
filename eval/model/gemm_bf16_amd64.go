//go:build amd64 && gc && !purego

package model

import "golang.org/x/sys/cpu"

// hasBF16Dot reports whether the CPU has VDPBF16PS (AVX512_BF16), which
// Options.BF16Dot needs; tests clear it to run the Go reference.
var hasBF16Dot = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16

//go:noescape
func cvtBF16AVX512(dst *uint32, src *float32, blocks int)

// pairRow sets d, (len(x)+1)/2 pairs, to x rounded to bfloat16 (see pairsOf).
func pairRow(d []uint32, x []float32) {
	i := 0
	if blocks := len(x) / 32; hasBF16Dot && blocks > 0 {
		_ = d[16*blocks-1]
		cvtBF16AVX512(&d[0], &x[0], blocks)
		i = 32 * blocks
	}
	pairRowGeneric(d[i/2:], x[i:])
}

//go:noescape
func gemm8x32BF16AVX512(xs *[8]*uint32, panel *uint32, k int, out *[256]float32)

// gemm8x32BF16 sets out[32i+j] to the VDPBF16PS sum of xs[i][:k] and
// (column j of the panel).
func gemm8x32BF16(xs *[8][]uint32, panel []uint32, k int, out *[256]float32) {
	if !hasBF16Dot {
		gemm8x32BF16Generic(xs, panel, k, out)
		return
	}
	_ = panel[32*k-1]
	var ps [8]*uint32
	for i, x := range xs {
		_ = x[k-1]
		ps[i] = &x[0]
	}
	gemm8x32BF16AVX512(&ps, &panel[0], k, out)
}
