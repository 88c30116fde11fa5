//go:build amd64 && gc && !purego

package tensor

import "unsafe"

func keepBits(x []float32, mask []uint64) {
	if useAVX2 && len(x) >= 64 {
		n := len(x) &^ 63 // whole mask words, so that the rest starts at one
		bytes := unsafe.Slice((*byte)(unsafe.Pointer(&mask[0])), 8*len(mask))
		keepBitsAVX2(x[:n], bytes) // little-endian: byte k holds bits 8k…8k+7
		x, mask = x[n:], mask[n>>6:]
	}
	keepBitsGeneric(x, mask)
}

// keepBitsAVX2 handles eight elements per mask byte: the byte broadcast to
// eight lanes, each lane ANDed with its bit and compared with it, gives
// the lanes to keep.
//
//go:noescape
func keepBitsAVX2(x []float32, mask []byte)
