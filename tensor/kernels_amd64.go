//go:build amd64 && gc && !purego

package tensor

// Assembly bodies in kernels_amd64.s. Each does what the *Generic function
// of the same stem does, for slices whose length is a multiple of 8 (4 for
// the reductions); the callers in dispatch_amd64.go pass such prefixes and
// finish the tail in Go. Only the length of the first slice is read, and
// nothing escapes, so that Decode's staging buffers stay on the stack.

// decodeBF16AVX2 widens each bfloat16 to 32 bits and shifts it left by 16.
//
//go:noescape
func decodeBF16AVX2(dst []float32, src []uint16)

// encodeBF16AVX2 is F32ToBF16 on eight lanes: add 0x7fff plus the kept
// part's lowest bit, shift right by 16, and where the input is a NaN take
// its upper half with the quiet bit set instead.
//
//go:noescape
func encodeBF16AVX2(dst []uint16, src []float32)

// roundBF16AVX2 is roundBF16Scalar on eight lanes.
//
//go:noescape
func roundBF16AVX2(x []float32)

// decodeF16AVX2 converts with VCVTPH2PS, which is exact but quiets
// signalling NaNs, then puts back the NaN bits that F16ToF32 keeps.
//
//go:noescape
func decodeF16AVX2(dst []float32, src []uint16)

// encodeF16AVX2 converts with VCVTPS2PH, rounding to nearest even. Its
// results equal F32ToF16's for every input, NaNs included: both keep the
// sign and the leading 10 mantissa bits and set the quiet bit.
//
//go:noescape
func encodeF16AVX2(dst []uint16, src []float32)

// roundF16AVX2 converts to binary16 and back (VCVTPS2PH, VCVTPH2PS); the
// binary16 in between is never a signalling NaN, so the way back is exact.
//
//go:noescape
func roundF16AVX2(x []float32)

// axpyAVX2 multiplies, then adds (VMULPS, VADDPS; no FMA).
//
//go:noescape
func axpyAVX2(dst []float32, a float32, x []float32)

//go:noescape
func scaleAVX2(dst []float32, a float32)

//go:noescape
func addAVX2(dst, x []float32)

//go:noescape
func subAVX2(dst, a, b []float32)

// dotAVX2 widens to float64 (VCVTPS2PD), where each product is exact, and
// sums in 16 float64 lanes, which it adds up at the end.
//
//go:noescape
func dotAVX2(a, b []float32) float64

//go:noescape
func sumAbsAVX2(x []float32) float64

//go:noescape
func sumSquaresAVX2(x []float32) float64

// sumSquaresLanesAVX2 is sumSquaresAVX2's main loop on sums loaded from
// and stored back to lanes, for a length that is a multiple of 16.
//
//go:noescape
func sumSquaresLanesAVX2(lanes *[SumSquaresBlock]float64, x []float32)

// addAgreeingAVX2 is addAgreeingGeneric on eight lanes, with the same
// comparisons (x != 0, x < 0, sign < 0 as VCMPPS), so NaNs count alike.
//
//go:noescape
func addAgreeingAVX2(sum, weight, x, sign []float32, w float32)

// divNonZeroAVX2 divides (VDIVPS, correctly rounded as the scalar
// division is) by div, or by 1 where div is ±0 (VCMPPS EQ, VBLENDVPS).
//
//go:noescape
func divNonZeroAVX2(dst, div []float32)

// keepBelowAVX2 compares draws with bound as unsigned numbers (both with
// the top bit flipped, then VPCMPGTD), masks x with the result and counts
// the kept lanes (VMOVMSKPS, POPCNT).
//
//go:noescape
func keepBelowAVX2(x []float32, draws []uint32, bound uint32) int

// divScalarAVX2 divides with VDIVPS, correctly rounded as DIVSS is.
//
//go:noescape
func divScalarAVX2(dst []float32, d float32)

// The fused kernels: the float32 operation, then BF16ROUNDF (as
// roundBF16AVX2) or the binary16 round trip (as roundF16AVX2), with the
// operands in the order the gc compiler uses for the *Generic references,
// so that NaN payloads agree too. The F16 bodies need F16C.

//go:noescape
func subRoundBF16AVX2(dst, a, b []float32)

//go:noescape
func subRoundF16AVX2(dst, a, b []float32)

//go:noescape
func scaleRoundBF16AVX2(x []float32, a float32)

//go:noescape
func scaleRoundF16AVX2(x []float32, a float32)

// axpyRoundBF16AVX2 and axpyRoundF16AVX2 multiply (VMULPS), round the
// product, then add the accumulator (VADDPS); no FMA.
//
//go:noescape
func axpyRoundBF16AVX2(acc []float32, w float32, x []float32)

//go:noescape
func axpyRoundF16AVX2(acc []float32, w float32, x []float32)

//go:noescape
func divScalarRoundBF16AVX2(x []float32, d float32)

//go:noescape
func divScalarRoundF16AVX2(x []float32, d float32)

// divNonZeroRoundBF16AVX2 and divNonZeroRoundF16AVX2 divide by 1 where div
// is ±0, as divNonZeroAVX2 does; that quiets a signalling NaN in dst, which
// the rounding quiets anyway.
//
//go:noescape
func divNonZeroRoundBF16AVX2(dst, div []float32)

//go:noescape
func divNonZeroRoundF16AVX2(dst, div []float32)

// pruneMagnitudeAVX2 is pruneMagnitudeGeneric for thr < 2^31 until it
// meets a vector where some but not all of the lanes equal to thr are kept;
// it returns the number of elements done (len(x) if it met none) and the
// ties left.
//
//go:noescape
func pruneMagnitudeAVX2(x []float32, thr uint32, ties int) (done, left int)

// countMagnitudeAVX2 compares magnitude bits with thr (VPCMPEQD) and
// counts in 32-bit lanes; len(x) must be below 2^32.
//
//go:noescape
func countMagnitudeAVX2(x []float32, thr uint32) int

// countAboveWindowAVX2 is countAboveWindowGeneric for lo <= hi < 2^31: it
// counts the magnitudes above hi in 32-bit lanes, so len(x) must be below
// 2^32, and adds the window's elements to hist in scalar code; hist must
// hold more than hi-lo counters.
//
//go:noescape
func countAboveWindowAVX2(hist []uint32, x []float32, lo, hi uint32) int

// splitMix64AVX2 is SplitMix64 on 4 lanes for a length that is a multiple
// of 4, state being the first draw's key + (ctr+1)*golden. AVX2 has no
// 64-bit multiply: each is lo·lo + (hi·lo + lo·hi)<<32 of the 32-bit
// halves (VPMULUDQ for lo·lo, one VPMULLD for both cross products).
//
//go:noescape
func splitMix64AVX2(dst []uint64, state uint64)

// splitMix64AVX512 is splitMix64AVX2 on 8 lanes for a length that is a
// multiple of 8, with AVX-512DQ's 64-bit multiply (VPMULLQ).
//
//go:noescape
func splitMix64AVX512(dst []uint64, state uint64)

// subBF16AVX2 is subBF16Generic on eight lanes: VPMOVZXWD and VPSLLD widen
// (exactly, as decodeBF16AVX2 does), VSUBPS subtracts, BF16ROUNDF rounds.
//
//go:noescape
func subBF16AVX2(dst []float32, a, b []uint16)

// divMulRoundBF16AVX2 is divMulRoundBF16Generic on eight lanes (VDIVPS,
// VMULPS, each rounded with BF16ROUNDF).
//
//go:noescape
func divMulRoundBF16AVX2(dst, a, b []float32, da, db float32)

// combineDivRoundBF16AVX2 is combineDivRoundBF16Generic on eight lanes;
// an empty base (len 0) adds none.
//
//go:noescape
func combineDivRoundBF16AVX2(dst, a, b, base []float32, ca, cb, d float32)

// divMulRoundVecBF16AVX2 is divMulRoundVecBF16Generic on eight lanes.
//
//go:noescape
func divMulRoundVecBF16AVX2(dst, a, b, da, db []float32)

// combineDivRoundVecBF16AVX2 is combineDivRoundVecBF16Generic on eight
// lanes.
//
//go:noescape
func combineDivRoundVecBF16AVX2(dst, a, b, ca, cb, d []float32)
