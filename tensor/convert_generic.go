package tensor

import (
	"math"
	"sync"
)

// The bulk 16-bit conversions in portable Go. Each is the reference for a
// SIMD body with the same signature (see dispatch.go); they are unrolled by
// four because the compiler does not unroll, and the slice-of-four pattern
// removes the bounds checks.

// decodeBF16Generic sets dst[i] = BF16ToF32(src[i]) for every i < len(dst).
// src must be at least as long as dst.
func decodeBF16Generic(dst []float32, src []uint16) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		d[0] = math.Float32frombits(uint32(s[0]) << 16)
		d[1] = math.Float32frombits(uint32(s[1]) << 16)
		d[2] = math.Float32frombits(uint32(s[2]) << 16)
		d[3] = math.Float32frombits(uint32(s[3]) << 16)
	}
	for ; i < len(dst); i++ {
		dst[i] = math.Float32frombits(uint32(src[i]) << 16)
	}
}

// encodeBF16Generic sets dst[i] = F32ToBF16(src[i]) for every i < len(dst).
// src must be at least as long as dst.
func encodeBF16Generic(dst []uint16, src []float32) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		d[0] = F32ToBF16(s[0])
		d[1] = F32ToBF16(s[1])
		d[2] = F32ToBF16(s[2])
		d[3] = F32ToBF16(s[3])
	}
	for ; i < len(dst); i++ {
		dst[i] = F32ToBF16(src[i])
	}
}

// roundBF16Generic sets x[i] = BF16ToF32(F32ToBF16(x[i])) for every i.
func roundBF16Generic(x []float32) {
	for i, v := range x {
		x[i] = roundBF16Scalar(v)
	}
}

// roundBF16Scalar is BF16ToF32(F32ToBF16(v)) without the trip through 16 bits.
func roundBF16Scalar(v float32) float32 { return RoundBF16(v) }

// RoundBF16 is RoundScalar(BF16, v), small enough to be inlined into a
// per-element loop: v rounded to the nearest bfloat16 (ties to even), NaN
// kept a quiet NaN.
func RoundBF16(v float32) float32 {
	b := math.Float32bits(v)
	if b&0x7fffffff > 0x7f800000 {
		return math.Float32frombits((b | 0x00400000) & 0xffff0000)
	}
	return math.Float32frombits((b + 0x7fff + (b>>16)&1) & 0xffff0000)
}

// f16Table maps every binary16 bit pattern to its float32 value. At 256 KiB
// it stays in L2 cache, and weights use a small part of it, so a lookup
// beats F16ToF32's arithmetic about fourfold. It is built on first use.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for i := range t {
		t[i] = F16ToF32(uint16(i))
	}
	return t
})

// decodeF16Generic sets dst[i] = F16ToF32(src[i]) for every i < len(dst).
// src must be at least as long as dst.
func decodeF16Generic(dst []float32, src []uint16) {
	t := f16Table()
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		d[0] = t[s[0]]
		d[1] = t[s[1]]
		d[2] = t[s[2]]
		d[3] = t[s[3]]
	}
	for ; i < len(dst); i++ {
		dst[i] = t[src[i]]
	}
}

// encodeF16Generic sets dst[i] = F32ToF16(src[i]) for every i < len(dst).
// src must be at least as long as dst. The body repeats F32ToF16's because
// that is too big for the compiler to inline.
func encodeF16Generic(dst []uint16, src []float32) {
	src = src[:len(dst)]
	for i, f := range src {
		b := math.Float32bits(f)
		a := b & 0x7fffffff
		h := f16Normal(min(a, 0x47800000))
		if a < 0x38800000 {
			h = f16Subnormal(a)
		}
		if a > 0x7f800000 {
			h = 0x7e00 | uint16(a>>13)&0x3ff
		}
		dst[i] = h | uint16(b>>16)&0x8000
	}
}

// roundF16Generic sets x[i] = F16ToF32(F32ToF16(x[i])) for every i.
func roundF16Generic(x []float32) {
	for i, v := range x {
		x[i] = roundF16Scalar(v)
	}
}

// roundF16Scalar is F16ToF32(F32ToF16(v)) computed in float32 bits: keep 10
// mantissa bits with round-to-nearest-even in the normal range; below 2^-14
// let the FPU round to a multiple of 2^-24 by adding and removing 0.5.
func roundF16Scalar(v float32) float32 {
	b := math.Float32bits(v)
	a := b & 0x7fffffff
	r := (a + 0xfff + (a>>13)&1) &^ 0x1fff
	if r >= 0x47800000 { // 65520 and up: Inf
		r = 0x7f800000
	}
	if a < 0x38800000 {
		r = math.Float32bits((math.Float32frombits(a) + 0.5) - 0.5)
	}
	if a > 0x7f800000 { // NaN: quiet, payload cut to binary16's
		r = a&^0x1fff | 0x00400000
	}
	return math.Float32frombits(r | b&^a) // b &^ a is the sign bit
}
