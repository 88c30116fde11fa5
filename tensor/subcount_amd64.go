//go:build amd64 && gc && !purego

package tensor

// subCountWindowsBF16AVX2 is subCountWindowsBF16Generic on eight lanes for
// a length that is a multiple of 8 and at most subCountChunk, and windows
// with lo <= hi < 2^31.
//
//go:noescape
func subCountWindowsBF16AVX2(hist0, hist1 []uint32, a, b []uint16, lo0, hi0, lo1, hi1 uint32) (above0, above1 int)

// subCountWindowsBF16AVX512 is subCountWindowsBF16AVX2 on 16 lanes for a
// length that is a multiple of 16.
//
//go:noescape
func subCountWindowsBF16AVX512(hist0, hist1 []uint32, a, b []uint16, lo0, hi0, lo1, hi1 uint32) (above0, above1 int)

// subCountWindowsBF16CVT is subCountWindowsBF16AVX512 rounding with
// VCVTNE2PS2BF16 (see the assembly), for a length that is a multiple of 32
// and at most subCountChunk, and windows whose lo are bfloat16 values'
// bits of at least cvtWindowMin.
//
//go:noescape
func subCountWindowsBF16CVT(hist0, hist1 []uint32, a, b []uint16, lo0, hi0, lo1, hi1 uint32) (above0, above1 int)

// subCountWindowsBF16 hands the assembly, whose compares are signed,
// windows below 2^31 (others go to the Go reference; bfloat16 windows
// from a sample never are) and chunks its buffers hold.
func subCountWindowsBF16(hist0, hist1 []uint32, a, b []uint16, lo0, hi0, lo1, hi1 uint32) (above0, above1 int) {
	if useAVX2 && hi0 < 1<<31 && hi1 < 1<<31 {
		kernel, width := subCountWindowsBF16AVX2, 8
		if useAVX512BW {
			kernel, width = subCountWindowsBF16AVX512, 16
		}
		if useAVX512BW && useAVX512BF16 && useAVX512VBMI2 && lo0&0xffff == 0 && lo1&0xffff == 0 && min(lo0, lo1) >= cvtWindowMin {
			kernel, width = subCountWindowsBF16CVT, 32
		}
		for len(a) >= width {
			n := min(len(a), subCountChunk) &^ (width - 1)
			c0, c1 := kernel(hist0, hist1, a[:n], b[:n], lo0, hi0, lo1, hi1)
			above0, above1 = above0+c0, above1+c1
			a, b = a[n:], b[n:]
		}
	}
	c0, c1 := subCountWindowsBF16Generic(hist0, hist1, a, b, lo0, hi0, lo1, hi1)
	return above0 + c0, above1 + c1
}
