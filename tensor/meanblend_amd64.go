//go:build amd64 && gc && !purego

package tensor

// meanBlendBF16AVX2 runs MeanBlendBF16Bytes on len(out), a multiple of 8,
// elements, eight at a time in registers, with the instructions of the
// AVX2 kernels of its steps in their operand orders: decodeBF16AVX2's
// widening, VADDPS sum+x (addAVX2), VDIVPS x/m (divScalarRoundBF16AVX2),
// VMULPS x·ratio (scaleRoundBF16AVX2), VMULPS base·keep then VADDPS
// product+acc (axpyRoundBF16AVX2), and BF16ROUNDF for every rounding. m is
// float32(len(xs)).
//
//go:noescape
func meanBlendBF16AVX2(out []float32, xs [][]byte, base []byte, m, ratio, keep float32)
