//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 body of subprune_amd64.go, with the constants of BF16ROUNDF.

DATA ·sp7fff<>+0(SB)/4, $0x00007fff
GLOBL ·sp7fff<>(SB), RODATA|NOPTR, $4
DATA ·sp1<>+0(SB)/4, $0x00000001
GLOBL ·sp1<>(SB), RODATA|NOPTR, $4
DATA ·spquiet<>+0(SB)/4, $0x00400000
GLOBL ·spquiet<>(SB), RODATA|NOPTR, $4
DATA ·sphigh<>+0(SB)/4, $0xffff0000
GLOBL ·sphigh<>(SB), RODATA|NOPTR, $4
DATA ·spabs<>+0(SB)/4, $0x7fffffff
GLOBL ·spabs<>(SB), RODATA|NOPTR, $4
DATA ·spinf<>+0(SB)/4, $0x7f800000
GLOBL ·spinf<>(SB), RODATA|NOPTR, $4

#include "bf16round_amd64.h"

// func subPruneScaleBF16AVX2(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool)
//
// One vector of 8 per iteration: widen and subtract as subBF16AVX2, round
// (BF16ROUNDF), keep the lanes whose magnitude bits are above min−1
// (VPCMPGTD: a signed compare, right for magnitudes below 2^31 and min in
// [0, 2^31]), multiply by w (x*w as scaleRoundBF16AVX2) and round, then
// add to sum (sum+x as addAVX2; +0 when first) and round that when last.
// The branches on first and last go the same way every iteration.
TEXT ·subPruneScaleBF16AVX2(SB), NOSPLIT, $0-106
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVL         min+96(FP), AX
	DECL         AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	VBROADCASTSS w+100(FP), Y8
	MOVBLZX      first+104(FP), R9
	MOVBLZX      last+105(FP), R10
	VPBROADCASTD ·sp7fff<>(SB), Y14
	VPBROADCASTD ·sp1<>(SB), Y13
	VPBROADCASTD ·sphigh<>(SB), Y12
	VPBROADCASTD ·spabs<>(SB), Y11
	VPBROADCASTD ·spinf<>(SB), Y10
	VPBROADCASTD ·spquiet<>(SB), Y9
	SHRQ         $3, CX
	JZ           spDone

spLoop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD (DX), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VSUBPS    Y1, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y3, Y4)   // d
	VPAND     Y11, Y2, Y3
	VPCMPGTD  Y15, Y3, Y3        // magnitude ≥ min
	VPAND     Y2, Y3, Y2
	VMULPS    Y8, Y2, Y2
	BF16ROUNDF(Y2, Y0, Y3, Y4)   // the term
	VMOVUPS   Y0, (DI)
	TESTQ     R9, R9
	JNZ       spFirst
	VMOVUPS   (R8), Y1
	JMP       spAdd

spFirst:
	VXORPS Y1, Y1, Y1

spAdd:
	VADDPS Y0, Y1, Y1
	TESTQ  R10, R10
	JZ     spStore
	BF16ROUNDF(Y1, Y2, Y3, Y4)
	VMOVAPS Y2, Y1

spStore:
	VMOVUPS Y1, (R8)
	ADDQ    $16, SI
	ADDQ    $16, DX
	ADDQ    $32, DI
	ADDQ    $32, R8
	DECQ    CX
	JNZ     spLoop

spDone:
	VZEROUPPER
	RET

// func subKeepScaleBF16AVX2(dst, sum []float32, a, b []uint16, draws []uint32, bound uint32, f, w float32, first, last bool)
//
// subPruneScaleBF16AVX2 with keepBelowAVX2's mask (draw < bound, unsigned:
// a signed compare with the top bits flipped) instead of the magnitude
// test, and a multiplication by f (rounded, as scaleRoundBF16AVX2) before
// the one by w unless f is ±0.
TEXT ·subKeepScaleBF16AVX2(SB), NOSPLIT, $0-134
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVQ         draws_base+96(FP), R11
	MOVL         bound+120(FP), AX
	XORL         $0x80000000, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15          // bound with the top bit flipped
	MOVL         $0x80000000, AX
	MOVQ         AX, X6
	VPBROADCASTD X6, Y6            // the top bit
	MOVL         f+124(FP), R12
	ANDL         $0x7fffffff, R12  // zero for f = ±0: no rescale
	VBROADCASTSS f+124(FP), Y7
	VBROADCASTSS w+128(FP), Y8
	MOVBLZX      first+132(FP), R9
	MOVBLZX      last+133(FP), R10
	VPBROADCASTD ·sp7fff<>(SB), Y14
	VPBROADCASTD ·sp1<>(SB), Y13
	VPBROADCASTD ·sphigh<>(SB), Y12
	VPBROADCASTD ·spabs<>(SB), Y11
	VPBROADCASTD ·spinf<>(SB), Y10
	VPBROADCASTD ·spquiet<>(SB), Y9
	SHRQ         $3, CX
	JZ           skDone

skLoop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD (DX), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VSUBPS    Y1, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y3, Y4)   // d
	VPXOR     (R11), Y6, Y3      // draws with the top bit flipped
	VPCMPGTD  Y3, Y15, Y3        // bound > draw
	VPAND     Y2, Y3, Y2
	TESTL     R12, R12
	JZ        skWeigh
	VMULPS    Y7, Y2, Y2
	BF16ROUNDF(Y2, Y0, Y3, Y4)
	VMOVAPS   Y0, Y2

skWeigh:
	VMULPS  Y8, Y2, Y2
	BF16ROUNDF(Y2, Y0, Y3, Y4)   // the term
	VMOVUPS Y0, (DI)
	TESTQ   R9, R9
	JNZ     skFirst
	VMOVUPS (R8), Y1
	JMP     skAdd

skFirst:
	VXORPS Y1, Y1, Y1

skAdd:
	VADDPS Y0, Y1, Y1
	TESTQ  R10, R10
	JZ     skStore
	BF16ROUNDF(Y1, Y2, Y3, Y4)
	VMOVAPS Y2, Y1

skStore:
	VMOVUPS Y1, (R8)
	ADDQ    $16, SI
	ADDQ    $16, DX
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $32, R11
	DECQ    CX
	JNZ     skLoop

skDone:
	VZEROUPPER
	RET

#include "bf16round512_amd64.h"
#include "bf16widen512_amd64.h"

// func subPruneScaleBF16AVX512(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool)
//
// subPruneScaleBF16AVX2 on 16 lanes (AVX-512F and BW), the magnitude test
// into K2 and the pruning a zero-masked move.
TEXT ·subPruneScaleBF16AVX512(SB), NOSPLIT, $0-106
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVL         min+96(FP), AX
	DECL         AX
	VPBROADCASTD AX, Z24
	VBROADCASTSS w+100(FP), Z23
	MOVBLZX      first+104(FP), R9
	MOVBLZX      last+105(FP), R10
	BF16CONSTS512(·sp7fff<>(SB), ·sp1<>(SB), ·sphigh<>(SB), ·spabs<>(SB), ·spinf<>(SB), ·spquiet<>(SB))
	BF16WIDENCONSTS512
	SHRQ         $4, CX
	JZ           sp5Done

sp5Loop:
	BF16WIDEN512((SI), Y0, Z0)
	BF16WIDEN512((DX), Y1, Z1)
	VSUBPS    Z1, Z0, Z0
	BF16ROUND512(Z0, Z2, Z3)     // d
	VPANDD    Z27, Z2, Z3
	VPCMPGTD  Z24, Z3, K2        // magnitude ≥ min
	VMOVDQU32.Z Z2, K2, Z2
	VMULPS    Z23, Z2, Z2
	BF16ROUND512(Z2, Z0, Z3)     // the term
	VMOVUPS   Z0, (DI)
	TESTQ     R9, R9
	JNZ       sp5First
	VMOVUPS   (R8), Z1
	JMP       sp5Add

sp5First:
	VPXORD Z1, Z1, Z1

sp5Add:
	VADDPS Z0, Z1, Z1
	TESTQ  R10, R10
	JZ     sp5Store
	BF16ROUND512(Z1, Z2, Z3)
	VMOVDQU32 Z2, Z1

sp5Store:
	VMOVUPS Z1, (R8)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $64, DI
	ADDQ    $64, R8
	DECQ    CX
	JNZ     sp5Loop

sp5Done:
	VZEROUPPER
	RET

// func subKeepScaleBF16AVX512(dst, sum []float32, a, b []uint16, draws []uint32, bound uint32, f, w float32, first, last bool)
//
// subKeepScaleBF16AVX2 on 16 lanes (AVX-512F and BW), with an unsigned
// compare (VPCMPUD) for draw < bound.
TEXT ·subKeepScaleBF16AVX512(SB), NOSPLIT, $0-134
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVQ         draws_base+96(FP), R11
	MOVL         bound+120(FP), AX
	VPBROADCASTD AX, Z24
	MOVL         f+124(FP), R12
	ANDL         $0x7fffffff, R12  // zero for f = ±0: no rescale
	VBROADCASTSS f+124(FP), Z22
	VBROADCASTSS w+128(FP), Z23
	MOVBLZX      first+132(FP), R9
	MOVBLZX      last+133(FP), R10
	BF16CONSTS512(·sp7fff<>(SB), ·sp1<>(SB), ·sphigh<>(SB), ·spabs<>(SB), ·spinf<>(SB), ·spquiet<>(SB))
	SHRQ         $4, CX
	JZ           sk5Done

sk5Loop:
	VPMOVZXWD (SI), Z0
	VPMOVZXWD (DX), Z1
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z1, Z1
	VSUBPS    Z1, Z0, Z0
	BF16ROUND512(Z0, Z2, Z3)     // d
	VMOVDQU32 (R11), Z4
	VPCMPUD   $1, Z24, Z4, K2    // draw < bound
	VMOVDQU32.Z Z2, K2, Z2
	TESTL     R12, R12
	JZ        sk5Weigh
	VMULPS    Z22, Z2, Z2
	BF16ROUND512(Z2, Z0, Z3)
	VMOVDQU32 Z0, Z2

sk5Weigh:
	VMULPS  Z23, Z2, Z2
	BF16ROUND512(Z2, Z0, Z3)     // the term
	VMOVUPS Z0, (DI)
	TESTQ   R9, R9
	JNZ     sk5First
	VMOVUPS (R8), Z1
	JMP     sk5Add

sk5First:
	VPXORD Z1, Z1, Z1

sk5Add:
	VADDPS Z0, Z1, Z1
	TESTQ  R10, R10
	JZ     sk5Store
	BF16ROUND512(Z1, Z2, Z3)
	VMOVDQU32 Z2, Z1

sk5Store:
	VMOVUPS Z1, (R8)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $64, DI
	ADDQ    $64, R8
	ADDQ    $64, R11
	DECQ    CX
	JNZ     sk5Loop

sk5Done:
	VZEROUPPER
	RET

// func subBF16AVX512(dst []float32, a, b []uint16)
//
// subBF16AVX2 on 16 lanes (AVX-512F and BW), two vectors per iteration.
TEXT ·subBF16AVX512(SB), NOSPLIT, $0-72
	MOVQ      dst_base+0(FP), DI
	MOVQ      dst_len+8(FP), CX
	MOVQ      a_base+24(FP), SI
	MOVQ      b_base+48(FP), DX
	BF16CONSTS512(·sp7fff<>(SB), ·sp1<>(SB), ·sphigh<>(SB), ·spabs<>(SB), ·spinf<>(SB), ·spquiet<>(SB))
	MOVQ      CX, BX
	SHRQ      $5, BX
	JZ        sb5Tail

sb5Loop:
	VPMOVZXWD (SI), Z0
	VPMOVZXWD (DX), Z2
	VPMOVZXWD 32(SI), Z1
	VPMOVZXWD 32(DX), Z3
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z2, Z2
	VPSLLD    $16, Z1, Z1
	VPSLLD    $16, Z3, Z3
	VSUBPS    Z2, Z0, Z0
	VSUBPS    Z3, Z1, Z1
	BF16ROUND512(Z0, Z4, Z5)
	BF16ROUND512(Z1, Z6, Z7)
	VMOVUPS   Z4, (DI)
	VMOVUPS   Z6, 64(DI)
	ADDQ      $64, SI
	ADDQ      $64, DX
	ADDQ      $128, DI
	DECQ      BX
	JNZ       sb5Loop

sb5Tail:
	TESTQ     $16, CX
	JZ        sb5Done
	VPMOVZXWD (SI), Z0
	VPMOVZXWD (DX), Z2
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z2, Z2
	VSUBPS    Z2, Z0, Z0
	BF16ROUND512(Z0, Z4, Z5)
	VMOVUPS   Z4, (DI)

sb5Done:
	VZEROUPPER
	RET

#include "bf16cvt512_amd64.h"
#include "cvtpair512_amd64.h"

// func subPruneScaleBF16CVT(dst, sum []float32, a, b []uint16, min16 uint16, w float32, first, last bool)
//
// subPruneScaleBF16AVX512 on two vectors of 16 per iteration, rounding
// the task vector and the term with VCVTNE2PS2BF16: the 32 rounded
// entries of the task vector are pruned as words (magnitude ≥ min, the
// bfloat16 bits of the threshold rounded up), widened back (BF16WIDENLO512,
// BF16WIDENHI512), weighted, rounded again and widened. The sum is added
// as before and rounded by BF16ROUND512 when last. The caller keeps min at
// least 0x0080 and the terms of kept entries normal (|w|·min ≥ 2^-126 or
// w = 0), so that no denormal reaches the instruction and changes a bit.
TEXT ·subPruneScaleBF16CVT(SB), NOSPLIT, $0-106
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVWLZX      min16+96(FP), AX
	VPBROADCASTW AX, Z24
	VBROADCASTSS w+100(FP), Z23
	MOVBLZX      first+104(FP), R9
	MOVBLZX      last+105(FP), R10
	MOVL         $0x7fff, AX
	VPBROADCASTW AX, Z21
	BF16CONSTS512(·sp7fff<>(SB), ·sp1<>(SB), ·sphigh<>(SB), ·spabs<>(SB), ·spinf<>(SB), ·spquiet<>(SB))
	BF16WIDENCONSTS512
	BF16WIDENHICONSTS512(Z18)
	SHRQ         $5, CX
	JZ           spcDone

spcLoop:
	SUBBF16PAIR512
	CVTNE2PS2BF16_Z4_Z1_Z0      // d
	VPANDD      Z21, Z4, Z5
	VPCMPUW     $5, Z24, Z5, K2 // magnitude ≥ min
	VMOVDQU16.Z Z4, K2, Z4
	SCALEPAIR512(Z23, Z18)
	UNPACKPAIR512(Z18)
	TERMSUMPAIR512(spcAdd, spcStore)
	ADDQ        $64, SI
	ADDQ    $64, DX
	ADDQ    $128, DI
	ADDQ    $128, R8
	DECQ    CX
	JNZ     spcLoop

spcDone:
	VZEROUPPER
	RET

// func subBF16CVT(dst []float32, a, b []uint16)
//
// subBF16AVX512 on two vectors of 16 per iteration, rounded together by
// VCVTNE2PS2BF16 and widened back; where a difference is denormal, which
// the instruction flushes to zero, the difference itself is kept
// (VFPCLASSPS): the difference of two bfloat16 values is denormal only
// when both lie below 2^-118, and then it is an exact bfloat16 denormal,
// which rounding leaves alone. The length is a multiple of 32.
TEXT ·subBF16CVT(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	BF16WIDENCONSTS512
	BF16WIDENHICONSTS512(Z18)
	SHRQ $5, CX
	JZ   sbcDone

sbcLoop:
	SUBBF16PAIR512
	CVTNE2PS2BF16_Z4_Z1_Z0
	BF16WIDENLO512(Z4, Z5)
	BF16WIDENHI512(Z18, Z4, Z6)
	VFPCLASSPSZ $0x20, Z0, K4
	VFPCLASSPSZ $0x20, Z1, K5
	VMOVDQU32   Z0, K4, Z5
	VMOVDQU32   Z1, K5, Z6
	VMOVUPS     Z5, (DI)
	VMOVUPS     Z6, 64(DI)
	ADDQ        $64, SI
	ADDQ        $64, DX
	ADDQ        $128, DI
	DECQ        CX
	JNZ         sbcLoop

sbcDone:
	VZEROUPPER
	RET
