//go:build amd64 && gc && !purego

package tensor

import "golang.org/x/sys/cpu"

// useAVX512BW selects the AVX-512 bodies of the fused TIES and DARE
// kernels (16 lanes; VPMOVZXWD on ZMM needs AVX-512BW), when useAVX2 is
// set too (so that tests clearing useAVX2 run the references).
var useAVX512BW = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

// subPruneScaleBF16AVX2 is subPruneScaleBF16Generic on eight lanes for a
// length that is a multiple of 8 and min in [0, 1<<31].
//
//go:noescape
func subPruneScaleBF16AVX2(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool)

// subPruneScaleBF16AVX512 is subPruneScaleBF16AVX2 on 16 lanes for a
// length that is a multiple of 16.
//
//go:noescape
func subPruneScaleBF16AVX512(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool)

// subKeepScaleBF16AVX512 is subKeepScaleBF16AVX2 on 16 lanes for a length
// that is a multiple of 16.
//
//go:noescape
func subKeepScaleBF16AVX512(dst, sum []float32, a, b []uint16, draws []uint32, bound uint32, f, w float32, first, last bool)

// subBF16AVX512 is subBF16AVX2 on 16 lanes for a length that is a
// multiple of 16.
//
//go:noescape
func subBF16AVX512(dst []float32, a, b []uint16)

func subPruneScaleBF16(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool) {
	if useAVX2 && useAVX512BW {
		n := len(dst) &^ 15
		subPruneScaleBF16AVX512(dst[:n], sum[:n], a[:n], b[:n], min, w, first, last)
		dst, sum, a, b = dst[n:], sum[n:], a[n:], b[n:]
	}
	if useAVX2 {
		n := len(dst) &^ 7
		subPruneScaleBF16AVX2(dst[:n], sum[:n], a[:n], b[:n], min, w, first, last)
		dst, sum, a, b = dst[n:], sum[n:], a[n:], b[n:]
	}
	subPruneScaleBF16Generic(dst, sum, a, b, min, w, first, last)
}

// subKeepScaleBF16AVX2 is subKeepScaleBF16Generic on eight lanes for a
// length that is a multiple of 8.
//
//go:noescape
func subKeepScaleBF16AVX2(dst, sum []float32, a, b []uint16, draws []uint32, bound uint32, f, w float32, first, last bool)

func subKeepScaleBF16(dst, sum []float32, a, b []uint16, draws []uint32, bound uint32, f, w float32, first, last bool) {
	if useAVX2 && useAVX512BW {
		n := len(dst) &^ 15
		subKeepScaleBF16AVX512(dst[:n], sum[:n], a[:n], b[:n], draws[:n], bound, f, w, first, last)
		dst, sum, a, b, draws = dst[n:], sum[n:], a[n:], b[n:], draws[n:]
	}
	if useAVX2 {
		n := len(dst) &^ 7
		subKeepScaleBF16AVX2(dst[:n], sum[:n], a[:n], b[:n], draws[:n], bound, f, w, first, last)
		dst, sum, a, b, draws = dst[n:], sum[n:], a[n:], b[n:], draws[n:]
	}
	subKeepScaleBF16Generic(dst, sum, a, b, draws, bound, f, w, first, last)
}
