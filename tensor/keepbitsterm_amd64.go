//go:build amd64 && gc && !purego

package tensor

import "unsafe"

// subKeepBitsScaleBF16AVX512 is subKeepBitsScaleBF16Generic (from 0) on
// 16 lanes for a length that is a multiple of 16: each 16 lanes' mask bits
// are two bytes of mask, loaded into a mask register (KMOVW); the bytes
// are in the words' order on a little-endian CPU.
//
//go:noescape
func subKeepBitsScaleBF16AVX512(dst, sum []float32, a, b []uint16, mask *byte, f, w float32, first, last bool)

// subKeepBitsScaleBF16CVT is subKeepBitsScaleBF16AVX512 rounding with
// VCVTNE2PS2BF16 (see the assembly) for a length that is a multiple of 32,
// tiny as cvtKeepTiny returns it; mask's bytes are read four at a time.
//
//go:noescape
func subKeepBitsScaleBF16CVT(dst, sum []float32, a, b []uint16, mask *byte, f, w float32, first, last bool, tiny uint32)

func subKeepBitsScaleBF16(dst, sum []float32, a, b []uint16, mask []uint64, f, w float32, first, last bool) {
	switch {
	case useAVX2 && useAVX512BW:
		m := 0
		if useAVX512BF16 {
			if tiny, ok := cvtKeepTiny(f, w); ok {
				m = len(dst) &^ 31
				if m > 0 {
					subKeepBitsScaleBF16CVT(dst[:m], sum[:m], a[:m], b[:m], (*byte)(unsafe.Pointer(&mask[0])), f, w, first, last, tiny)
				}
			}
		}
		n := m + (len(dst)-m)&^15
		if n > m {
			subKeepBitsScaleBF16AVX512(dst[m:n], sum[m:n], a[m:n], b[m:n], (*byte)(unsafe.Add(unsafe.Pointer(&mask[0]), m/8)), f, w, first, last)
		}
		subKeepBitsScaleBF16Generic(dst[n:], sum[n:], a[n:], b[n:], mask, n, f, w, first, last)
	case useAVX2:
		// No AVX-512: the chain of AVX2 kernels it replaces.
		subBF16(dst, a, b)
		if f != 0 {
			keepBitsScaleRoundBF16(dst, mask, f)
		} else {
			keepBits(dst, mask)
		}
		ScaleRound(BF16, dst, w)
		if first {
			clear(sum)
		}
		Add(sum, dst)
		if last {
			Round(BF16, sum)
		}
	default:
		subKeepBitsScaleBF16Generic(dst, sum, a, b, mask, 0, f, w, first, last)
	}
}
