//go:build amd64 && gc && !purego

package tensor

import (
	"math"

	"golang.org/x/sys/cpu"
)

// useAVX512BW selects the AVX-512 bodies of the fused TIES and DARE
// kernels (16 lanes; VPMOVZXWD on ZMM needs AVX-512BW), when useAVX2 is
// set too (so that tests clearing useAVX2 run the references).
var useAVX512BW = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

// useAVX512BF16 selects the kernels that round with VCVTNE2PS2BF16
// (bf16cvt512_amd64.h), where their callers' bounds allow it, when
// useAVX2 and useAVX512BW are set too.
var useAVX512BF16 = useAVX512BW && cpu.X86.HasAVX512BF16

// useAVX512VBMI2 selects the kernels that compress words (VPCOMPRESSW).
var useAVX512VBMI2 = useAVX512BW && cpu.X86.HasAVX512VBMI2

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

// subBF16CVT is subBF16AVX512 rounding with VCVTNE2PS2BF16 (see the
// assembly), for a length that is a multiple of 32.
//
//go:noescape
func subBF16CVT(dst []float32, a, b []uint16)

// subBF16AVX512 is subBF16AVX2 on 16 lanes for a length that is a
// multiple of 16.
//
//go:noescape
func subBF16AVX512(dst []float32, a, b []uint16)

// subPruneScaleBF16CVT is subPruneScaleBF16AVX512 rounding with
// VCVTNE2PS2BF16 (see the assembly), for min16 the bfloat16 bits of min
// rounded up, a length that is a multiple of 32 and cvtPrune(min, w).
//
//go:noescape
func subPruneScaleBF16CVT(dst, sum []float32, a, b []uint16, min16 uint16, w float32, first, last bool)

// cvtPrune reports whether the kernels that round with VCVTNE2PS2BF16,
// which flushes denormals to zero, give the bits of the others when they
// keep the entries of magnitude bits at least min and weigh them by w:
// every kept entry is then normal, and so is every non-zero term.
func cvtPrune(min uint32, w float32) bool {
	if min < cvtWindowMin {
		return false
	}
	// Both factors are float32, so the float64 product is exact.
	return w == 0 || math.Abs(float64(w))*float64(math.Float32frombits(minU32(min, 0x7f800000))) >= 0x1p-126
}

func subPruneScaleBF16(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool) {
	if useAVX2 && useAVX512BF16 && cvtPrune(min, w) {
		n := len(dst) &^ 31
		subPruneScaleBF16CVT(dst[:n], sum[:n], a[:n], b[:n], uint16((uint64(min)+0xffff)>>16), w, first, last)
		dst, sum, a, b = dst[n:], sum[n:], a[n:], b[n:]
	}
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
