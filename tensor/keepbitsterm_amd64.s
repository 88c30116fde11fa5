//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX-512 body of keepbitsterm_amd64.go: SubKeepBitsScaleBF16's.

DATA ·kt7fff<>+0(SB)/4, $0x00007fff
GLOBL ·kt7fff<>(SB), RODATA|NOPTR, $4
DATA ·kt1<>+0(SB)/4, $0x00000001
GLOBL ·kt1<>(SB), RODATA|NOPTR, $4
DATA ·ktquiet<>+0(SB)/4, $0x00400000
GLOBL ·ktquiet<>(SB), RODATA|NOPTR, $4
DATA ·kthigh<>+0(SB)/4, $0xffff0000
GLOBL ·kthigh<>(SB), RODATA|NOPTR, $4
DATA ·ktabs<>+0(SB)/4, $0x7fffffff
GLOBL ·ktabs<>(SB), RODATA|NOPTR, $4
DATA ·ktinf<>+0(SB)/4, $0x7f800000
GLOBL ·ktinf<>(SB), RODATA|NOPTR, $4

#include "bf16round512_amd64.h"

// func subKeepBitsScaleBF16AVX512(dst, sum []float32, a, b []uint16, mask *byte, f, w float32, first, last bool)
//
// subKeepScaleBF16AVX512 with the keep mask read from the bits (KMOVW, 16
// lanes per two bytes) instead of compared from draws.
TEXT ·subKeepBitsScaleBF16AVX512(SB), NOSPLIT, $0-114
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVQ         mask+96(FP), R11
	MOVL         f+104(FP), R12
	ANDL         $0x7fffffff, R12  // zero for f = ±0: no rescale
	VBROADCASTSS f+104(FP), Z22
	VBROADCASTSS w+108(FP), Z23
	MOVBLZX      first+112(FP), R9
	MOVBLZX      last+113(FP), R10
	BF16CONSTS512(·kt7fff<>(SB), ·kt1<>(SB), ·kthigh<>(SB), ·ktabs<>(SB), ·ktinf<>(SB), ·ktquiet<>(SB))
	SHRQ         $4, CX
	JZ           kt5Done

kt5Loop:
	VPMOVZXWD (SI), Z0
	VPMOVZXWD (DX), Z1
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z1, Z1
	VSUBPS    Z1, Z0, Z0
	BF16ROUND512(Z0, Z2, Z3)     // d
	KMOVW     (R11), K2          // the 16 lanes' keep bits
	VMOVDQU32.Z Z2, K2, Z2
	TESTL     R12, R12
	JZ        kt5Weigh
	VMULPS    Z22, Z2, Z2
	BF16ROUND512(Z2, Z0, Z3)
	VMOVDQU32 Z0, Z2

kt5Weigh:
	VMULPS  Z23, Z2, Z2
	BF16ROUND512(Z2, Z0, Z3)     // the term
	VMOVUPS Z0, (DI)
	TESTQ   R9, R9
	JNZ     kt5First
	VMOVUPS (R8), Z1
	JMP     kt5Add

kt5First:
	VPXORD Z1, Z1, Z1

kt5Add:
	VADDPS Z0, Z1, Z1
	TESTQ  R10, R10
	JZ     kt5Store
	BF16ROUND512(Z1, Z2, Z3)
	VMOVDQU32 Z2, Z1

kt5Store:
	VMOVUPS Z1, (R8)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $64, DI
	ADDQ    $64, R8
	ADDQ    $2, R11
	DECQ    CX
	JNZ     kt5Loop

kt5Done:
	VZEROUPPER
	RET

#include "bf16widen512_amd64.h"
#include "bf16cvt512_amd64.h"
#include "cvtpair512_amd64.h"

// func subKeepBitsScaleBF16CVT(dst, sum []float32, a, b []uint16, mask *byte, f, w float32, first, last bool, tiny uint32)
//
// subKeepBitsScaleBF16AVX512 on two vectors of 16 per iteration with the
// roundings of subKeepScaleStreamBF16CVT (keepstream_amd64.s): 32 keep
// bits at a time (KMOVD), VCVTNE2PS2BF16 on the packed lanes, and the
// exact chain for a pair with a difference of magnitude in (0, tiny).
TEXT ·subKeepBitsScaleBF16CVT(SB), NOSPLIT, $0-120
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVQ         mask+96(FP), R11
	MOVL         f+104(FP), R12
	ANDL         $0x7fffffff, R12  // zero for f = ±0: no rescale
	VBROADCASTSS f+104(FP), Z16
	VBROADCASTSS w+108(FP), Z23
	MOVBLZX      first+112(FP), R9
	MOVBLZX      last+113(FP), R10
	MOVL         tiny+116(FP), AX
	DECL         AX
	VPBROADCASTD AX, Z17           // tiny − 1
	BF16CONSTS512(·kt7fff<>(SB), ·kt1<>(SB), ·kthigh<>(SB), ·ktabs<>(SB), ·ktinf<>(SB), ·ktquiet<>(SB))
	BF16WIDENCONSTS512
	BF16WIDENHICONSTS512(Z15)
	SHRQ         $5, CX
	JZ           ktcDone

ktcLoop:
	SUBBF16PAIR512
	KMOVD    (R11), K6            // the 32 lanes' keep bits
	TINYPAIR512(ktcExact)
	CVTNE2PS2BF16_Z4_Z1_Z0        // d
	VMOVDQU16.Z Z4, K6, Z4
	TESTL    R12, R12
	JZ       ktcWeigh
	SCALEPAIR512(Z16, Z15)

ktcWeigh:
	SCALEPAIR512(Z23, Z15)
	UNPACKPAIR512(Z15)

ktcTerm:
	TERMSUMPAIR512(ktcAdd, ktcStore)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $128, DI
	ADDQ    $128, R8
	ADDQ    $4, R11
	DECQ    CX
	JNZ     ktcLoop

ktcDone:
	VZEROUPPER
	RET

ktcExact:
	// The chain of subKeepBitsScaleBF16AVX512 on each half.
	KSHIFTRD  $16, K6, K3
	EXACTPAIR512(K6, ktcExact1, ktcExact2)
	JMP       ktcTerm
