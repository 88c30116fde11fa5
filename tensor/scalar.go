package tensor

import "math"

// BF16ToF32 returns the float32 value of the bfloat16 bit pattern h. The
// conversion is exact: a bfloat16 is the upper half of a float32.
func BF16ToF32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// F32ToBF16 rounds f to the nearest bfloat16, ties to even, as PyTorch's
// c10::BFloat16 does: values beyond the largest finite bfloat16 (after
// rounding) become ±Inf, subnormals round like any other value, and ±0 and
// ±Inf are kept.
//
// A NaN stays a NaN: its sign and the leading 7 mantissa bits are kept and
// the quiet bit is set, which is what the AVX512-BF16 VCVTNEPS2BF16
// instruction does. PyTorch itself is not consistent here (its scalar path returns
// 0x7FC0, its AVX2 path 0xFFFF), so no bit pattern matches it everywhere.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x0040
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// F16ToF32 returns the float32 value of the IEEE 754 binary16 bit pattern h.
// The conversion is exact for every pattern: subnormals become normal
// float32s, ±Inf stays ±Inf and a NaN keeps its sign and payload.
func F16ToF32(h uint16) float32 {
	a := uint32(h&0x7fff) << 13 // exponent and mantissa, aligned to float32
	e := a & 0x0f800000
	r := a + (127-15)<<23
	// Inf/NaN: 31 -> 255. Zero/subnormal: m×2^-24 is (1+m/1024)×2^-14 - 2^-14,
	// which float32 subtraction computes exactly.
	sub := math.Float32bits(math.Float32frombits(r+1<<23) - 0x1p-14)
	if e == 0x0f800000 {
		r += (128 - 16) << 23
	}
	if e == 0 {
		r = sub
	}
	return math.Float32frombits(r | uint32(h&0x8000)<<16)
}

// F32ToF16 rounds f to the nearest IEEE 754 binary16, ties to even, as
// numpy's astype(float16) and PyTorch's .half() do: results below the normal
// range become subnormals (or ±0), magnitudes from 65520 up become ±Inf, and
// ±0 and ±Inf are kept.
//
// A NaN stays a NaN with its sign and the leading 10 mantissa bits kept and
// the quiet bit set, as the F16C VCVTPS2PH instruction (used by PyTorch's
// vectorized CPU conversion on x86) does; numpy agrees for quiet NaNs.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	a := b & 0x7fffffff
	h := f16Normal(min(a, 0x47800000)) // from 2^16 (Inf included): 0x7c00
	if a < 0x38800000 {                // below 2^-14: subnormal or zero
		h = f16Subnormal(a)
	}
	if a > 0x7f800000 {
		h = 0x7e00 | uint16(a>>13)&0x3ff
	}
	return h | uint16(b>>16)&0x8000
}

// f16Normal rounds the float32 magnitude a in [2^-14, 2^16] to binary16 bits.
// Rounding may carry into the exponent, up to 0x7c00 (Inf) from 65520 on;
// 2^16 itself gives 0x7c00.
func f16Normal(a uint32) uint16 {
	return uint16((a - (127-15)<<23 + 0xfff + (a>>13)&1) >> 13)
}

// f16Subnormal rounds the float32 magnitude a below 2^-14 to binary16 bits.
// Adding 0.5, whose float32 ulp is 2^-24 (the binary16 subnormal step), makes
// the FPU do the round-to-nearest-even; the result may be 0x400, the
// smallest normal.
func f16Subnormal(a uint32) uint16 {
	return uint16(math.Float32bits(math.Float32frombits(a)+0.5) - 0x3f000000)
}
