//go:build amd64 && gc && !purego

package tensor

import "unsafe"

// The AVX2 bodies take the mask eight bits (one byte, eight elements) at a
// time: the byte broadcast to every lane, ANDed with each lane's bit and
// compared with it (VPCMPEQD) gives the lane mask. They read the bits as
// bytes, which is the order of bits j%64 in bits[j/64] on a little-endian
// CPU. len(x) is a multiple of 8.

//go:noescape
func keepBitsAVX2(x []float32, bits *byte)

// keepBitsScaleRoundBF16AVX2 masks, multiplies (VMULPS, x*a as
// scaleRoundBF16AVX2) and rounds to bfloat16 as BF16ROUNDF does.
//
//go:noescape
func keepBitsScaleRoundBF16AVX2(x []float32, bits *byte, a float32)

func keepBits(x []float32, bits []uint64) {
	n := 0
	if useAVX2 && len(x) >= 8 {
		n = len(x) &^ 7
		keepBitsAVX2(x[:n], (*byte)(unsafe.Pointer(&bits[0])))
	}
	keepBitsGeneric(x[n:], bits, n)
}

func keepBitsScaleRoundBF16(x []float32, bits []uint64, a float32) {
	n := 0
	if useAVX2 && len(x) >= 8 {
		n = len(x) &^ 7
		keepBitsScaleRoundBF16AVX2(x[:n], (*byte)(unsafe.Pointer(&bits[0])), a)
	}
	keepBitsScaleRoundBF16Generic(x[n:], bits, n, a)
}
