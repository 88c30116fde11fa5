//go:build amd64 && gc && !purego

package model

import (
	"math"

	"golang.org/x/sys/cpu"
)

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
func packBF16AVX512(panel *uint32, src *byte, idx *[16]int32, k int)

// packPanelBF16 packs a full panel (32 rows) of an even column count with
// gathers; it reports false where it does not apply.
func packPanelBF16(w *matrix, panel []uint32, lo, k0, k1 int) bool {
	cols := w.cols
	stride := 2 * cols
	if !hasBF16Dot || cols%2 != 0 || 16*stride > math.MaxInt32 || k1 <= k0 || lo+panelRows > w.rows {
		return false
	}
	k := k1 - k0
	_ = panel[panelRows*k-1]
	// The last dword read: row lo+31, pair k1-1.
	_ = w.raw[((lo+panelRows-1)*cols+2*k1)*2-1]
	var idx [16]int32
	for j := range idx {
		idx[j] = int32(j * stride)
	}
	packBF16AVX512(&panel[0], &w.raw[(lo*cols+2*k0)*2], &idx, k)
	return true
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
