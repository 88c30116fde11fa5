//go:build amd64 && gc && !purego

package tensor

import "unsafe"

func markAbove(mask []uint64, x []float32, thr uint32) {
	if useAVX2 && len(x) >= 64 {
		n := len(x) &^ 63 // whole mask words
		bytes := unsafe.Slice((*byte)(unsafe.Pointer(&mask[0])), 8*len(mask))
		markAboveAVX2(bytes, x[:n], thr) // little-endian: byte k holds bits 8k…8k+7
		x, mask = x[n:], mask[n>>6:]
	}
	markAboveGeneric(mask, x, thr)
}

// markAboveAVX2 compares eight magnitudes at a time with thr (VPCMPGTD:
// both are below 2^31, so the signed comparison orders them) and stores
// the eight results (VMOVMSKPS) as one mask byte.
//
//go:noescape
func markAboveAVX2(mask []byte, x []float32, thr uint32)
