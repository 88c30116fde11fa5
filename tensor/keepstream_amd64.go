//go:build amd64 && gc && !purego

package tensor

// useKeepStream says whether the AVX-512 bodies of the stream kernels run:
// they widen with AVX-512BW and multiply 64-bit lanes with AVX-512DQ's
// VPMULLQ. Tests clear useAVX2 or useAVX512BW to run the others.
func useKeepStream() bool {
	return useAVX2 && useAVX512BW && useAVX512
}

// subKeepScaleStreamBF16AVX512 is subKeepScaleStreamBF16Generic on 16
// lanes for a length that is a multiple of 16, with the draws of 64-bit
// outputs whose SplitMix64 states are state, state+golden, …: the stream
// of key at an even draw at has state key + (at/2+1)·golden.
//
//go:noescape
func subKeepScaleStreamBF16AVX512(dst, sum []float32, a, b []uint16, state uint64, bound uint32, f, w float32, first, last bool)

// subKeepAbsSumsStreamBF16AVX512 is subKeepAbsSumsStreamBF16Generic on
// 16 lanes for a length that is a multiple of 16, the draws' states as in
// subKeepScaleStreamBF16AVX512.
//
//go:noescape
func subKeepAbsSumsStreamBF16AVX512(all, kept *[16]float64, a, b []uint16, state uint64, bound uint32)

// subKeepScaleStreamBF16 runs the AVX-512 body on the longest multiple of
// 16 elements, at even, and SubKeepScaleBF16's bodies with buffered draws
// on the rest.
func subKeepScaleStreamBF16(dst, sum []float32, a, b []uint16, key, at uint64, bound uint32, f, w float32, first, last bool) {
	if useKeepStream() && at%2 == 0 {
		n := len(dst) &^ 15
		if n > 0 {
			subKeepScaleStreamBF16AVX512(dst[:n], sum[:n], a[:n], b[:n], key+(at/2+1)*splitMixGolden, bound, f, w, first, last)
		}
		dst, sum, a, b, at = dst[n:], sum[n:], a[n:], b[n:], at+uint64(n)
	}
	if len(dst) > 0 {
		subKeepScaleStreamBlocks(false, dst, sum, a, b, key, at, bound, f, w, first, last)
	}
}

// subKeepAbsSumsStream runs the AVX-512 body over the longest multiple of
// 16 elements, at even, and returns how many it did; without AVX-512 it
// does none.
func subKeepAbsSumsStream(all, kept *[16]float64, a, b []uint16, key, at uint64, bound uint32) int {
	if !useKeepStream() || at%2 != 0 {
		return 0
	}
	n := len(a) &^ 15
	if n > 0 {
		subKeepAbsSumsStreamBF16AVX512(all, kept, a[:n], b[:n], key+(at/2+1)*splitMixGolden, bound)
	}
	return n
}
