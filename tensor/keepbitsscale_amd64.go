//go:build amd64 && gc && !purego

package tensor

import "unsafe"

// keepBitsScaleRoundBF16AVX2 takes the mask a byte (eight lanes) at a time
// as keepBitsAVX2 does, then multiplies (VMULPS, x*a as
// scaleRoundBF16AVX2) and rounds to bfloat16 as BF16ROUNDF does. It reads
// the bits as bytes, which is their order in the words on a little-endian
// CPU. len(x) is a multiple of 8.
//
//go:noescape
func keepBitsScaleRoundBF16AVX2(x []float32, mask *byte, a float32)

func keepBitsScaleRoundBF16(x []float32, mask []uint64, a float32) {
	n := 0
	if useAVX2 && len(x) >= 8 {
		n = len(x) &^ 7
		keepBitsScaleRoundBF16AVX2(x[:n], (*byte)(unsafe.Pointer(&mask[0])), a)
	}
	keepBitsScaleRoundBF16Generic(x[n:], mask, n, a)
}
