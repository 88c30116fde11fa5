//go:build amd64 && gc && !purego

package tensor

import "math"

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

// subKeepScaleStreamBF16CVT is subKeepScaleStreamBF16AVX512 rounding with
// VCVTNE2PS2BF16 (see the assembly) for a length that is a multiple of 32,
// tiny as cvtKeepTiny returns it.
//
//go:noescape
func subKeepScaleStreamBF16CVT(dst, sum []float32, a, b []uint16, state uint64, bound uint32, f, w float32, first, last bool, tiny uint32)

// cvtKeepTiny returns the magnitude bits of a power of two t such that a
// task vector entry d of magnitude at least t keeps every step of
// round(round(round(d)·f)·w) (f = 0: no rescale) away from the denormals,
// where VCVTNE2PS2BF16 would round differently; ok is false when f or w
// leave no such t (NaN, or products near zero).
func cvtKeepTiny(f, w float32) (tiny uint32, ok bool) {
	af, aw := math.Abs(float64(f)), math.Abs(float64(w))
	if f == 0 {
		af = 1
	}
	m := min(1, af)
	if w != 0 {
		m = min(m, af*aw)
	}
	if !(m >= 0x1p-100) { // NaN too
		return 0, false
	}
	// Each rounding to bfloat16 loses at most 2^-8 of a value: 2^-125
	// leaves room for both. The quotient, in [2^-125, 2^-25], rounded up
	// to a power of two by its bits: the kernels' callers ask for every
	// block, so no Frexp.
	b := math.Float64bits(0x1p-125 / m)
	if b&(1<<52-1) != 0 {
		b = b&^(1<<52-1) + 1<<52
	}
	return math.Float32bits(float32(math.Float64frombits(b))), true
}

// subKeepScaleStreamBF16 runs the AVX-512 body on the longest multiple of
// 16 elements, at even, and SubKeepScaleBF16's bodies with buffered draws
// on the rest.
func subKeepScaleStreamBF16(dst, sum []float32, a, b []uint16, key, at uint64, bound uint32, f, w float32, first, last bool) {
	if useAVX512BF16 && useKeepStream() && at%2 == 0 {
		if tiny, ok := cvtKeepTiny(f, w); ok {
			n := len(dst) &^ 31
			if n > 0 {
				subKeepScaleStreamBF16CVT(dst[:n], sum[:n], a[:n], b[:n], key+(at/2+1)*splitMixGolden, bound, f, w, first, last, tiny)
			}
			dst, sum, a, b, at = dst[n:], sum[n:], a[n:], b[n:], at+uint64(n)
		}
	}
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

// subKeepAbsSumsStreamBF16CVT is subKeepAbsSumsStreamBF16AVX512 rounding
// with VCVTNE2PS2BF16 (see the assembly) for a length that is a multiple
// of 32.
//
//go:noescape
func subKeepAbsSumsStreamBF16CVT(all, kept *[16]float64, a, b []uint16, state uint64, bound uint32)

// subKeepAbsSumsStream runs the AVX-512 body over the longest multiple of
// 16 elements, at even, and returns how many it did; without AVX-512 it
// does none.
func subKeepAbsSumsStream(all, kept *[16]float64, a, b []uint16, key, at uint64, bound uint32) int {
	if !useKeepStream() || at%2 != 0 {
		return 0
	}
	done := 0
	if useAVX512BF16 {
		done = len(a) &^ 31
		if done > 0 {
			subKeepAbsSumsStreamBF16CVT(all, kept, a[:done], b[:done], key+(at/2+1)*splitMixGolden, bound)
		}
		at += uint64(done)
	}
	n := (len(a) - done) &^ 15
	if n > 0 {
		subKeepAbsSumsStreamBF16AVX512(all, kept, a[done:done+n], b[done:done+n], key+(at/2+1)*splitMixGolden, bound)
	}
	return done + n
}
