// Package tensor knows element types and the arithmetic kernels that merge
// methods run on float32 buffers. It knows nothing about files: safetensors
// hands it stored bytes and a DType, merge hands it float32 slices.
//
// # Element types
//
// DType names the safetensors element types: BF16, F16, F32, F64, the signed
// and unsigned integers I8 to U64, Bool, and the F8 types. All but the F8
// types (and Invalid) convert to and from float32 with Decode and Encode;
// stored bytes are always little-endian, whatever the host. AsBytes and
// AsFloat32s reinterpret F32 data in place on little-endian hosts.
//
// # Rounding contract
//
// All merge arithmetic runs on []float32. mergekit runs it in torch tensors
// of the configured dtype, where every operation's result is rounded to that
// dtype. To reproduce mergekit bit for bit, gomerge does each operation in
// float32 and then calls Round (or RoundScalar) with the working dtype:
//
//   - BF16 and F16 round to nearest, ties to even, exactly as torch's
//     conversions do (F32ToBF16, F32ToF16), with overflow to ±Inf and
//     subnormal results where the type has them;
//   - F32 needs no rounding: float32 arithmetic already rounds to it;
//   - F64 is carried in float32, an approximation gomerge accepts;
//   - integer types truncate toward zero and saturate.
//
// For +, -, × and ÷ on bfloat16 or float16 operands, computing in float32
// and rounding once gives the correctly rounded 16-bit result, which is what
// torch computes: float32's 24-bit significand is at least 2p+2 bits for
// both types (p = 8 and 11), so the double rounding is innocuous.
//
// # No fused multiply-add
//
// The kernels (Axpy, AxpyRound, Scale, Add, Sub, Dot, SumAbs, SumSquares)
// never fuse a multiply with an add. torch evaluates w*x + acc as two
// operations, each rounded; a fused multiply-add rounds once and can differ
// in the last bit, which then survives the rounding to bfloat16 often
// enough to break bit-for-bit comparison. Go may fuse x*y + z on platforms
// with FMA unless a conversion such as float32(x*y) forces the rounding, so
// the kernels (and SIMD bodies that replace them) keep the two steps apart.
//
// # Kernels
//
// Each bulk routine has a portable Go reference named *Generic, shaped like
// gonum's internal/asm: a tiny function whose exported wrapper documents the
// exact loop. On amd64 with AVX2 (and F16C for the F16 conversions),
// hand-written assembly in kernels_amd64.s replaces them, chosen at run time
// with golang.org/x/sys/cpu; the build tag purego (or a non-gc compiler)
// leaves only the Go code. SplitMix64 also has an AVX-512 (F+DQ) body, for
// VPMULLQ's 64-bit multiply, which it prefers to the AVX2 one where the
// CPU has it. The element-wise assembly agrees with the
// references bit for bit; two points needed care:
//
//   - Where both operands of an add or multiply are NaNs, x86 returns the
//     first operand's, quieted. Go does not say which operand comes first;
//     the assembly orders them as the gc compiler's optimized code for the
//     references does, so even these NaN payloads agree in normal builds
//     (not under -race or -gcflags=-N, which reorder the references').
//   - VCVTPH2PS quiets signalling binary16 NaNs; the F16 decoder restores the
//     quiet bit as F16ToF32 leaves it, so F16 decoding keeps NaN payloads
//     exactly. VCVTPS2PH (round to nearest even) already gives F32ToF16's
//     results, NaNs included.
//
// The float64 sums in Dot, SumAbs and SumSquares are the exception: the
// assembly adds in 16 float64 lanes and combines them at the end, so its
// result can differ from the in-order sum in the last bits (each product is
// exact either way; the order of the additions differs). Tests hold it
// within 1e-12 of the sum of the terms' magnitudes. No kernel fuses a
// multiply with an add. bench_test.go measures both implementations and
// records the speed-ups: 3-40× in cache, 1.4-13× from DRAM.
//
// # Fused kernels
//
// Merge methods round after every operation, so a chain such as Sub then
// Round reads and writes each buffer twice. SubRound, ScaleRound,
// AxpyRound, DivScalarRound and DivNonZeroRound do the operation and the
// rounding to the working dtype in one pass, with results identical to
// the chain's, bit for bit; DivMulRound, CombineDivRound and their *Vec
// forms do nuslerp's chains of three to five rounded operations.
// SumSquaresAcc and SumSquaresCols give SumSquares' bits (its SIMD order
// of additions included) for a slice or for the columns of a matrix
// handed over piece by piece. PruneMagnitude, CountMagnitude,
// MagnitudeHistogram and CountAboveWindow are the passes of magnitude
// (top-k) pruning over the magnitude bits of float32s;
// CountAboveWindowShift and KeepMagnitudeWindow those of breadcrumbs'
// pruning of both ends.
package tensor
