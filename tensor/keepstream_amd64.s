//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX-512 bodies of keepstream_amd64.go: SubKeepScaleBF16's and
// SubKeepAbsSumsBF16's with the SplitMix64 draws made in registers.

DATA ·ks7fff<>+0(SB)/4, $0x00007fff
GLOBL ·ks7fff<>(SB), RODATA|NOPTR, $4
DATA ·ks1<>+0(SB)/4, $0x00000001
GLOBL ·ks1<>(SB), RODATA|NOPTR, $4
DATA ·ksquiet<>+0(SB)/4, $0x00400000
GLOBL ·ksquiet<>(SB), RODATA|NOPTR, $4
DATA ·kshigh<>+0(SB)/4, $0xffff0000
GLOBL ·kshigh<>(SB), RODATA|NOPTR, $4
DATA ·ksabs<>+0(SB)/4, $0x7fffffff
GLOBL ·ksabs<>(SB), RODATA|NOPTR, $4

// golden·k for k = 0..7: the states of one vector of 64-bit outputs.
DATA ·ksmix<>+0(SB)/8, $0x0000000000000000
DATA ·ksmix<>+8(SB)/8, $0x9e3779b97f4a7c15
DATA ·ksmix<>+16(SB)/8, $0x3c6ef372fe94f82a
DATA ·ksmix<>+24(SB)/8, $0xdaa66d2c7ddf743f
DATA ·ksmix<>+32(SB)/8, $0x78dde6e5fd29f054
DATA ·ksmix<>+40(SB)/8, $0x1715609f7c746c69
DATA ·ksmix<>+48(SB)/8, $0xb54cda58fbbee87e
DATA ·ksmix<>+56(SB)/8, $0x538454127b096493
GLOBL ·ksmix<>(SB), RODATA|NOPTR, $64

#include "bf16round512_amd64.h"

// DRAWS sets d to the 16 draws of the states s (8 64-bit outputs, each
// low half first: the stream's order in memory) and steps s by 8 outputs;
// Z20, Z21 hold SplitMix64's multipliers and Z18 8·golden
// (0xf1bbcdcbfa53e0a8), a is scratch.
#define DRAWS(s, d, a) \
	VPSRLQ  $30, s, a  \
	VPXORQ  a, s, d    \
	VPMULLQ Z20, d, d  \
	VPSRLQ  $27, d, a  \
	VPXORQ  a, d, d    \
	VPMULLQ Z21, d, d  \
	VPSRLQ  $31, d, a  \
	VPXORQ  a, d, d    \
	VPADDQ  Z18, s, s

// STREAMCONSTS loads the registers BF16ROUND512 and DRAWS use (not
// BF16CONSTS512's Z26 and Z27, which BF16ROUND512 does not read) and the
// states of the first vector into Z19 from the state in AX.
#define STREAMCONSTS \
	VPBROADCASTQ AX, Z19                     \
	VPADDQ       ·ksmix<>(SB), Z19, Z19      \
	MOVQ         $0xbf58476d1ce4e5b9, AX     \
	VPBROADCASTQ AX, Z20                     \
	MOVQ         $0x94d049bb133111eb, AX     \
	VPBROADCASTQ AX, Z21                     \
	MOVQ         $0xf1bbcdcbfa53e0a8, AX     \
	VPBROADCASTQ AX, Z18                     \
	VPBROADCASTD ·ks7fff<>(SB), Z30          \
	VPBROADCASTD ·ks1<>(SB), Z29             \
	VPBROADCASTD ·kshigh<>(SB), Z28          \
	VPBROADCASTD ·ksquiet<>(SB), Z25

// func subKeepScaleStreamBF16AVX512(dst, sum []float32, a, b []uint16, state uint64, bound uint32, f, w float32, first, last bool)
//
// subKeepScaleBF16AVX512 (subprune_amd64.s) with each vector's draws
// made by DRAWS instead of loaded.
TEXT ·subKeepScaleStreamBF16AVX512(SB), NOSPLIT, $0-118
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVQ         state+96(FP), AX
	STREAMCONSTS
	MOVL         bound+104(FP), AX
	VPBROADCASTD AX, Z24
	MOVL         f+108(FP), R12
	ANDL         $0x7fffffff, R12  // zero for f = ±0: no rescale
	VBROADCASTSS f+108(FP), Z22
	VBROADCASTSS w+112(FP), Z23
	MOVBLZX      first+116(FP), R9
	MOVBLZX      last+117(FP), R10
	SHRQ         $4, CX
	JZ           kssDone

kssLoop:
	VPMOVZXWD (SI), Z0
	VPMOVZXWD (DX), Z1
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z1, Z1
	VSUBPS    Z1, Z0, Z0
	BF16ROUND512(Z0, Z2, Z3)           // d
	DRAWS(Z19, Z4, Z5)
	VPCMPUD   $1, Z24, Z4, K2    // draw < bound
	VMOVDQU32.Z Z2, K2, Z2
	TESTL     R12, R12
	JZ        kssWeigh
	VMULPS    Z22, Z2, Z2
	BF16ROUND512(Z2, Z0, Z3)
	VMOVDQU32 Z0, Z2

kssWeigh:
	VMULPS  Z23, Z2, Z2
	BF16ROUND512(Z2, Z0, Z3)           // the term
	VMOVUPS Z0, (DI)
	VPXORD  Z1, Z1, Z1
	TESTQ   R9, R9
	JNZ     kssAdd
	VMOVUPS (R8), Z1

kssAdd:
	VADDPS Z0, Z1, Z1            // sum + term (+0 + term when first), the sum's NaN first as in Go
	TESTQ  R10, R10
	JZ     kssStore
	BF16ROUND512(Z1, Z2, Z3)
	VMOVDQU32 Z2, Z1

kssStore:
	VMOVUPS Z1, (R8)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $64, DI
	ADDQ    $64, R8
	DECQ    CX
	JNZ     kssLoop

kssDone:
	VZEROUPPER
	RET

// KEEPABSPAIR adds the magnitudes of two vectors of task vector entries,
// in Z2 and Z10, to the sums of all (Z16, Z17) and of those whose draw is
// below Z24 (Z26, Z31), the float64 lanes of each vector's low half first:
// it makes the draws of both vectors from the states in Z19 and odd (the
// second vector's) as DRAWS does, and steps both by Z23 (16·golden).
// Z4-Z6 and Z12-Z14 are scratch, K2-K5 overwritten.
#define KEEPABSPAIR(odd) \
	VPSRLQ        $30, Z19, Z5 \
	VPSRLQ        $30, odd, Z13 \
	VPXORQ        Z5, Z19, Z4 \
	VPXORQ        Z13, odd, Z12 \
	VPMULLQ       Z20, Z4, Z4 \
	VPMULLQ       Z20, Z12, Z12 \
	VPSRLQ        $27, Z4, Z5 \
	VPSRLQ        $27, Z12, Z13 \
	VPXORQ        Z5, Z4, Z4 \
	VPXORQ        Z13, Z12, Z12 \
	VPMULLQ       Z21, Z4, Z4 \
	VPMULLQ       Z21, Z12, Z12 \
	VPSRLQ        $31, Z4, Z5 \
	VPSRLQ        $31, Z12, Z13 \
	VPXORQ        Z5, Z4, Z4 \
	VPXORQ        Z13, Z12, Z12 \
	VPADDQ        Z23, Z19, Z19 \
	VPADDQ        Z23, odd, odd \
	VPCMPUD       $1, Z24, Z4, K2 \
	VPCMPUD       $1, Z24, Z12, K4 \
	KSHIFTRW      $8, K2, K3 \
	KSHIFTRW      $8, K4, K5 \
	VCVTPS2PD     Y2, Z5 \
	VEXTRACTF64X4 $1, Z2, Y6 \
	VCVTPS2PD     Y6, Z6 \
	VCVTPS2PD     Y10, Z13 \
	VEXTRACTF64X4 $1, Z10, Y14 \
	VCVTPS2PD     Y14, Z14 \
	VADDPD        Z5, Z16, Z16 \
	VADDPD        Z6, Z17, Z17 \
	VADDPD        Z5, Z26, K2, Z26 \
	VADDPD        Z6, Z31, K3, Z31 \
	VADDPD        Z13, Z16, Z16 \
	VADDPD        Z14, Z17, Z17 \
	VADDPD        Z13, Z26, K4, Z26 \
	VADDPD        Z14, Z31, K5, Z31

// func subKeepAbsSumsStreamBF16AVX512(all, kept *[16]float64, a, b []uint16, state uint64, bound uint32)
//
// subKeepAbsSumsBF16AVX512 (subkeepsums_amd64.s) with each vector's draws
// made by DRAWS instead of loaded.
TEXT ·subKeepAbsSumsStreamBF16AVX512(SB), NOSPLIT, $0-76
	MOVQ         all+0(FP), R8
	MOVQ         kept+8(FP), R9
	MOVQ         a_base+16(FP), SI
	MOVQ         a_len+24(FP), CX
	MOVQ         b_base+40(FP), DX
	MOVQ         state+64(FP), AX
	STREAMCONSTS
	MOVL         bound+72(FP), AX
	VPBROADCASTD AX, Z24
	VPBROADCASTD ·ksabs<>(SB), Z27
	VMOVUPD      (R8), Z16
	VMOVUPD      64(R8), Z17
	VMOVUPD      (R9), Z26
	VMOVUPD      64(R9), Z31
	SHRQ         $4, CX
	JZ           kasDone

	VPADDQ       Z18, Z19, Z22     // the states of the odd vectors
	VPADDQ       Z18, Z18, Z23     // 16·golden
	MOVQ         CX, BX
	SHRQ         $1, BX
	JZ           kasOne

kasLoop2:
	VPMOVZXWD     (SI), Z0
	VPMOVZXWD     (DX), Z1
	VPMOVZXWD     32(SI), Z8
	VPMOVZXWD     32(DX), Z9
	VPSLLD        $16, Z0, Z0
	VPSLLD        $16, Z1, Z1
	VPSLLD        $16, Z8, Z8
	VPSLLD        $16, Z9, Z9
	VSUBPS        Z1, Z0, Z0
	VSUBPS        Z9, Z8, Z8
	BF16ROUND512(Z0, Z2, Z3)            // d
	BF16ROUND512(Z8, Z10, Z11)
	VPANDD        Z27, Z2, Z2     // |d|
	VPANDD        Z27, Z10, Z10
	KEEPABSPAIR(Z22)
	ADDQ          $64, SI
	ADDQ          $64, DX
	DECQ          BX
	JNZ           kasLoop2

kasOne:
	TESTQ         $1, CX
	JZ            kasDone
	VPMOVZXWD     (SI), Z0
	VPMOVZXWD     (DX), Z1
	VPSLLD        $16, Z0, Z0
	VPSLLD        $16, Z1, Z1
	VSUBPS        Z1, Z0, Z0
	BF16ROUND512(Z0, Z2, Z3)            // d
	VPANDD        Z27, Z2, Z2     // |d|
	DRAWS(Z19, Z4, Z5)
	VPCMPUD       $1, Z24, Z4, K2 // draw < bound
	KSHIFTRW      $8, K2, K3
	VCVTPS2PD     Y2, Z5
	VEXTRACTF64X4 $1, Z2, Y6
	VCVTPS2PD     Y6, Z6
	VADDPD        Z5, Z16, Z16
	VADDPD        Z6, Z17, Z17
	VADDPD        Z5, Z26, K2, Z26
	VADDPD        Z6, Z31, K3, Z31

kasDone:
	VMOVUPD Z16, (R8)
	VMOVUPD Z17, 64(R8)
	VMOVUPD Z26, (R9)
	VMOVUPD Z31, 64(R9)
	VZEROUPPER
	RET

#include "bf16widen512_amd64.h"
#include "bf16cvt512_amd64.h"
#include "cvtpair512_amd64.h"

// func subKeepScaleStreamBF16CVT(dst, sum []float32, a, b []uint16, state uint64, bound uint32, f, w float32, first, last bool, tiny uint32)
//
// subKeepScaleStreamBF16AVX512 on two vectors of 16 per iteration, its
// three roundings (the task vector, ·f, ·w) done by VCVTNE2PS2BF16 on the
// 32 lanes at once: the draws' keep masks joined (KUNPCKWD) prune the
// packed task vector, which is widened back (BF16WIDENLO512,
// BF16WIDENHI512) for each product. Where a difference of the pair has a
// magnitude in (0, tiny), which the caller chooses so that above it no
// step of the chain is denormal, the pair takes the exact chain of
// subKeepScaleStreamBF16AVX512 (BF16ROUND512) instead. The sum is added
// and rounded as there.
TEXT ·subKeepScaleStreamBF16CVT(SB), NOSPLIT, $0-124
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVQ         state+96(FP), AX
	STREAMCONSTS
	MOVL         bound+104(FP), AX
	VPBROADCASTD AX, Z24
	MOVL         f+108(FP), R12
	ANDL         $0x7fffffff, R12  // zero for f = ±0: no rescale
	VBROADCASTSS f+108(FP), Z16
	VBROADCASTSS w+112(FP), Z23
	MOVBLZX      first+116(FP), R9
	MOVBLZX      last+117(FP), R10
	MOVL         tiny+120(FP), AX
	DECL         AX
	VPBROADCASTD AX, Z17           // tiny − 1
	VPBROADCASTD ·ksabs<>(SB), Z27
	BF16WIDENCONSTS512
	BF16WIDENHICONSTS512(Z15)
	SHRQ         $5, CX
	JZ           kscDone

kscLoop:
	SUBBF16PAIR512
	DRAWS(Z19, Z6, Z5)
	DRAWS(Z19, Z7, Z5)
	VPCMPUD  $1, Z24, Z6, K2      // draw < bound
	VPCMPUD  $1, Z24, Z7, K3
	TINYPAIR512(kscExact)
	CVTNE2PS2BF16_Z4_Z1_Z0        // d
	KUNPCKWD K2, K3, K6
	VMOVDQU16.Z Z4, K6, Z4
	TESTL    R12, R12
	JZ       kscWeigh
	SCALEPAIR512(Z16, Z15)

kscWeigh:
	SCALEPAIR512(Z23, Z15)
	UNPACKPAIR512(Z15)

kscTerm:
	TERMSUMPAIR512(kscAdd, kscStore)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $128, DI
	ADDQ    $128, R8
	DECQ    CX
	JNZ     kscLoop

kscDone:
	VZEROUPPER
	RET

kscExact:
	// The chain of subKeepScaleStreamBF16AVX512 on each half.
	EXACTPAIR512(K2, kscExact1, kscExact2)
	JMP       kscTerm

// func subKeepAbsSumsStreamBF16CVT(all, kept *[16]float64, a, b []uint16, state uint64, bound uint32)
//
// The two-vector loop of subKeepAbsSumsStreamBF16AVX512 with the task
// vector rounded by VCVTNE2PS2BF16, for a length that is a multiple of 32:
// the packed magnitudes are widened back (BF16WIDENLO512, BF16WIDENHI512),
// and where a difference is denormal, which the instruction flushes to
// zero, its own magnitude is taken instead (VFPCLASSPS): the difference
// of two bfloat16 values is denormal only when both lie below 2^-118, and
// then it is an exact bfloat16 denormal, which rounding leaves alone. The
// sums are added in the order and lanes of the AVX-512 body.
TEXT ·subKeepAbsSumsStreamBF16CVT(SB), NOSPLIT, $0-76
	MOVQ         all+0(FP), R8
	MOVQ         kept+8(FP), R9
	MOVQ         a_base+16(FP), SI
	MOVQ         a_len+24(FP), CX
	MOVQ         b_base+40(FP), DX
	MOVQ         state+64(FP), AX
	STREAMCONSTS
	MOVL         bound+72(FP), AX
	VPBROADCASTD AX, Z24
	VPBROADCASTD ·ksabs<>(SB), Z27
	MOVL         $0x7fff7fff, AX
	VPBROADCASTD AX, Z8
	BF16WIDENCONSTS512
	BF16WIDENHICONSTS512(Z15)
	VMOVUPD      (R8), Z16
	VMOVUPD      64(R8), Z17
	VMOVUPD      (R9), Z26
	VMOVUPD      64(R9), Z31
	VPADDQ       Z18, Z19, Z9      // the states of the odd vectors
	VPADDQ       Z18, Z18, Z23     // 16·golden
	SHRQ         $5, CX
	JZ           kacDone

kacLoop:
	SUBBF16PAIR512
	CVTNE2PS2BF16_Z4_Z1_Z0        // d
	VPANDD        Z8, Z4, Z4      // |d|, packed
	BF16WIDENLO512(Z4, Z2)
	BF16WIDENHI512(Z15, Z4, Z10)
	VFPCLASSPSZ   $0x20, Z0, K4   // denormal differences
	VFPCLASSPSZ   $0x20, Z1, K5
	VPANDD        Z27, Z0, K4, Z2
	VPANDD        Z27, Z1, K5, Z10
	KEEPABSPAIR(Z9)
	ADDQ          $64, SI
	ADDQ          $64, DX
	DECQ          CX
	JNZ           kacLoop

kacDone:
	VMOVUPD Z16, (R8)
	VMOVUPD Z17, 64(R8)
	VMOVUPD Z26, (R9)
	VMOVUPD Z31, 64(R9)
	VZEROUPPER
	RET
