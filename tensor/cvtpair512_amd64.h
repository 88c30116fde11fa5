// The shared parts of the kernels that round pairs of vectors with
// VCVTNE2PS2BF16 (bf16cvt512_amd64.h): 32 elements per iteration, a and b
// at SI and DX, the terms' destination at DI and the running sums at R8,
// the first and last flags in R9 and R10.

// SUBBF16PAIR512 widens the 32 bfloat16 values at (SI) and at (DX)
// (BF16WIDEN512) and leaves their differences in Z0 (elements 0-15) and Z1
// (16-31); Z2 and Z3 are scratch.
#define SUBBF16PAIR512 \
	BF16WIDEN512((SI), Y0, Z0)   \
	BF16WIDEN512(32(SI), Y1, Z1) \
	BF16WIDEN512((DX), Y2, Z2)   \
	BF16WIDEN512(32(DX), Y3, Z3) \
	VSUBPS Z2, Z0, Z0            \
	VSUBPS Z3, Z1, Z1

// TERMSUMPAIR512 stores the terms in Z0 and Z1 at (DI) and adds them to
// the sums at (R8), or to +0 when R9 is set, the sum's NaN first, then
// rounds the sums (BF16ROUND512) when R10 is set; Z0-Z3 and Z5 are
// scratch, add and store are labels of the calling function.
#define TERMSUMPAIR512(add, store) \
	VMOVUPS   Z0, (DI)         \
	VMOVUPS   Z1, 64(DI)       \
	VPXORD    Z2, Z2, Z2       \
	VPXORD    Z3, Z3, Z3       \
	TESTQ     R9, R9           \
	JNZ       add              \
	VMOVUPS   (R8), Z2         \
	VMOVUPS   64(R8), Z3       \
add:                           \
	VADDPS    Z0, Z2, Z2       \
	VADDPS    Z1, Z3, Z3       \
	TESTQ     R10, R10         \
	JZ        store            \
	BF16ROUND512(Z2, Z0, Z5)   \
	BF16ROUND512(Z3, Z1, Z5)   \
	VMOVDQU32 Z0, Z2           \
	VMOVDQU32 Z1, Z3           \
store:                         \
	VMOVUPS   Z2, (R8)         \
	VMOVUPS   Z3, 64(R8)

// EXACTPAIR512 is the exact chain of DARE's and DELLA's terms on the pair
// of differences in Z0 and Z1, for the kernels that take it where a
// difference is too small for VCVTNE2PS2BF16: EXACTHALF512 on Z0 with
// klo's lanes kept, then on Z1 with K3's; one and two are labels of the
// calling function.
#define EXACTPAIR512(klo, one, two) \
	EXACTHALF512(Z0, klo, one)  \
	EXACTHALF512(Z1, K3, two)

// EXACTHALF512 makes the terms of the differences in x in place: each
// rounded (BF16ROUND512), kept where k is set, rescaled by Z16 and
// rounded unless R12 is zero, weighted by Z23 and rounded; Z2 and Z3 are
// scratch, skip a label of the calling function.
#define EXACTHALF512(x, k, skip) \
	BF16ROUND512(x, Z2, Z3)     \
	VMOVDQU32.Z Z2, k, Z2       \
	TESTL     R12, R12          \
	JZ        skip              \
	VMULPS    Z16, Z2, Z2       \
	BF16ROUND512(Z2, x, Z3)     \
	VMOVDQU32 x, Z2             \
skip:                           \
	VMULPS    Z23, Z2, Z2       \
	BF16ROUND512(Z2, x, Z3)

// SCALEPAIR512 widens the 32 words of Z4 back to float32 in Z0 and Z1
// (BF16WIDENLO512, BF16WIDENHI512 with the index in hi), multiplies them
// by f and rounds them together into Z4 again.
#define SCALEPAIR512(f, hi) \
	BF16WIDENLO512(Z4, Z0)      \
	BF16WIDENHI512(hi, Z4, Z1)  \
	VMULPS f, Z0, Z0            \
	VMULPS f, Z1, Z1            \
	CVTNE2PS2BF16_Z4_Z1_Z0

// UNPACKPAIR512 widens the 32 words of Z4 back to float32 in Z0 and Z1.
#define UNPACKPAIR512(hi) \
	BF16WIDENLO512(Z4, Z0)      \
	BF16WIDENHI512(hi, Z4, Z1)

// TINYPAIR512 jumps to exact when a difference in Z0 or Z1 has a
// magnitude in (0, tiny), Z17 holding tiny − 1, Z27 0x7fffffff and Z29 1
// (the unsigned compare of |x| − 1 wraps ±0 past every bound); Z8, Z9,
// K4 and K5 are scratch.
#define TINYPAIR512(exact) \
	VPANDD   Z27, Z0, Z8       \
	VPANDD   Z27, Z1, Z9       \
	VPSUBD   Z29, Z8, Z8       \
	VPSUBD   Z29, Z9, Z9       \
	VPCMPUD  $1, Z17, Z8, K4   \
	VPCMPUD  $1, Z17, Z9, K5   \
	KORTESTW K4, K5            \
	JNZ      exact
