//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 and AVX-512 bodies of subwindow_amd64.go, with the constants of
// BF16ROUNDF and BF16ROUND512.

DATA ·sw7fff<>+0(SB)/4, $0x00007fff
GLOBL ·sw7fff<>(SB), RODATA|NOPTR, $4
DATA ·sw1<>+0(SB)/4, $0x00000001
GLOBL ·sw1<>(SB), RODATA|NOPTR, $4
DATA ·swquiet<>+0(SB)/4, $0x00400000
GLOBL ·swquiet<>(SB), RODATA|NOPTR, $4
DATA ·swhigh<>+0(SB)/4, $0xffff0000
GLOBL ·swhigh<>(SB), RODATA|NOPTR, $4
DATA ·swabs<>+0(SB)/4, $0x7fffffff
GLOBL ·swabs<>(SB), RODATA|NOPTR, $4
DATA ·swinf<>+0(SB)/4, $0x7f800000
GLOBL ·swinf<>(SB), RODATA|NOPTR, $4

#include "bf16round_amd64.h"

// func subWindowScaleBF16AVX2(dst, sum []float32, a, b []uint16, vLo, vHi uint32, rLo, rHi, limLo, limHi int, keepLo, keepHi int32, w float32, first, last bool) (done, newLo, newHi int)
//
// subPruneScaleBF16AVX2's loop with keepWindowAVX2's selection in place of
// the magnitude test: per vector, the task vector d (rounded), its lanes
// equal to vLo and to vHi (but not vLo) counted (VMOVMSKPS, POPCNT) onto
// the ranks, a stop before the vector if a rank passes its limit, else
// the lanes strictly inside (vLo, vHi) kept with the boundary lanes that
// keepLo and keepHi keep, then weighted, rounded and summed. Signed
// compares order the magnitudes, which are below 2^31.
TEXT ·subWindowScaleBF16AVX2(SB), NOSPLIT, $0-176
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	VBROADCASTSS vLo+96(FP), Y5
	VBROADCASTSS vHi+100(FP), Y6
	MOVQ         rLo+104(FP), R11
	MOVQ         rHi+112(FP), R12
	MOVQ         limLo+120(FP), R13
	MOVQ         limHi+128(FP), R14
	VBROADCASTSS keepLo+136(FP), Y7
	VBROADCASTSS keepHi+140(FP), Y15
	VBROADCASTSS w+144(FP), Y8
	MOVBLZX      first+148(FP), R9
	MOVBLZX      last+149(FP), R10
	VPBROADCASTD ·sw7fff<>(SB), Y14
	VPBROADCASTD ·sw1<>(SB), Y13
	VPBROADCASTD ·swhigh<>(SB), Y12
	VPBROADCASTD ·swabs<>(SB), Y11
	VPBROADCASTD ·swinf<>(SB), Y10
	VPBROADCASTD ·swquiet<>(SB), Y9
	SHRQ         $3, CX
	JZ           swDone

swLoop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD (DX), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VSUBPS    Y1, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y3, Y4)   // d
	VPAND     Y11, Y2, Y3        // u
	VPCMPEQD  Y5, Y3, Y0         // u == vLo
	VPCMPEQD  Y6, Y3, Y1         // u == vHi
	VPANDN    Y1, Y0, Y1         // u == vHi but not vLo (vLo = vHi counts as vLo)
	VMOVMSKPS Y0, AX
	VMOVMSKPS Y1, BX
	POPCNTL   AX, AX
	POPCNTL   BX, BX
	ADDQ      R11, AX            // rLo after this vector
	ADDQ      R12, BX            // rHi after this vector
	CMPQ      AX, R13
	JGT       swDone             // its vLo entries reach past limLo: left to the caller
	CMPQ      BX, R14
	JGT       swDone
	MOVQ      AX, R11
	MOVQ      BX, R12
	VPAND     Y7, Y0, Y0
	VPAND     Y15, Y1, Y1
	VPOR      Y1, Y0, Y0         // boundary lanes kept
	VPCMPGTD  Y5, Y3, Y1         // u > vLo
	VPCMPGTD  Y3, Y6, Y4         // vHi > u
	VPAND     Y4, Y1, Y1
	VPOR      Y1, Y0, Y0         // kept
	VPAND     Y2, Y0, Y2
	VMULPS    Y8, Y2, Y2
	BF16ROUNDF(Y2, Y0, Y3, Y4)   // the term
	VMOVUPS   Y0, (DI)
	TESTQ     R9, R9
	JNZ       swFirst
	VMOVUPS   (R8), Y1
	JMP       swAdd

swFirst:
	VXORPS Y1, Y1, Y1

swAdd:
	VADDPS Y0, Y1, Y1
	TESTQ  R10, R10
	JZ     swStore
	BF16ROUNDF(Y1, Y2, Y3, Y4)
	VMOVAPS Y2, Y1

swStore:
	VMOVUPS Y1, (R8)
	ADDQ    $16, SI
	ADDQ    $16, DX
	ADDQ    $32, DI
	ADDQ    $32, R8
	DECQ    CX
	JNZ     swLoop

swDone:
	SUBQ dst_base+0(FP), DI
	SHRQ $2, DI
	MOVQ DI, done+152(FP)
	MOVQ R11, newLo+160(FP)
	MOVQ R12, newHi+168(FP)
	VZEROUPPER
	RET

#include "bf16round512_amd64.h"

// func subWindowScaleBF16AVX512(dst, sum []float32, a, b []uint16, vLo, vHi uint32, rLo, rHi, limLo, limHi int, keepLo, keepHi int32, w float32, first, last bool) (done, newLo, newHi int)
//
// subWindowScaleBF16AVX2 on 16 lanes (AVX-512F and BW): the boundary
// lanes in K2 (vLo) and K3 (vHi but not vLo), counted with KMOVW and
// POPCNT, kept through K6 and K7 (keepLo and keepHi as masks), the
// pruning a zero-masked move.
TEXT ·subWindowScaleBF16AVX512(SB), NOSPLIT, $0-176
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	VBROADCASTSS vLo+96(FP), Z21
	VBROADCASTSS vHi+100(FP), Z22
	MOVQ         rLo+104(FP), R11
	MOVQ         rHi+112(FP), R12
	MOVQ         limLo+120(FP), R13
	MOVQ         limHi+128(FP), R14
	MOVL         keepLo+136(FP), AX
	KMOVW        AX, K6
	MOVL         keepHi+140(FP), AX
	KMOVW        AX, K7
	VBROADCASTSS w+144(FP), Z23
	MOVBLZX      first+148(FP), R9
	MOVBLZX      last+149(FP), R10
	BF16CONSTS512(·sw7fff<>(SB), ·sw1<>(SB), ·swhigh<>(SB), ·swabs<>(SB), ·swinf<>(SB), ·swquiet<>(SB))
	SHRQ         $4, CX
	JZ           sw5Done

sw5Loop:
	VPMOVZXWD (SI), Z0
	VPMOVZXWD (DX), Z1
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z1, Z1
	VSUBPS    Z1, Z0, Z0
	BF16ROUND512(Z0, Z2, Z3)     // d
	VPANDD    Z27, Z2, Z3        // u
	VPCMPEQD  Z21, Z3, K2        // u == vLo
	VPCMPEQD  Z22, Z3, K3        // u == vHi
	KANDNW    K3, K2, K3         // but not vLo
	KMOVW     K2, AX
	KMOVW     K3, BX
	POPCNTL   AX, AX
	POPCNTL   BX, BX
	ADDQ      R11, AX
	ADDQ      R12, BX
	CMPQ      AX, R13
	JGT       sw5Done
	CMPQ      BX, R14
	JGT       sw5Done
	MOVQ      AX, R11
	MOVQ      BX, R12
	KANDW     K6, K2, K2
	KANDW     K7, K3, K3
	KORW      K3, K2, K2         // boundary lanes kept
	VPCMPGTD  Z21, Z3, K4        // u > vLo
	VPCMPGTD  Z3, Z22, K4, K4    // and vHi > u
	KORW      K4, K2, K2         // kept
	VMOVDQU32.Z Z2, K2, Z2
	VMULPS    Z23, Z2, Z2
	BF16ROUND512(Z2, Z0, Z3)     // the term
	VMOVUPS   Z0, (DI)
	TESTQ     R9, R9
	JNZ       sw5First
	VMOVUPS   (R8), Z1
	JMP       sw5Add

sw5First:
	VPXORD Z1, Z1, Z1

sw5Add:
	VADDPS Z0, Z1, Z1
	TESTQ  R10, R10
	JZ     sw5Store
	BF16ROUND512(Z1, Z2, Z3)
	VMOVDQU32 Z2, Z1

sw5Store:
	VMOVUPS Z1, (R8)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $64, DI
	ADDQ    $64, R8
	DECQ    CX
	JNZ     sw5Loop

sw5Done:
	SUBQ dst_base+0(FP), DI
	SHRQ $2, DI
	MOVQ DI, done+152(FP)
	MOVQ R11, newLo+160(FP)
	MOVQ R12, newHi+168(FP)
	VZEROUPPER
	RET

#include "bf16widen512_amd64.h"
#include "bf16cvt512_amd64.h"
#include "cvtpair512_amd64.h"

// func subWindowScaleBF16CVT(dst, sum []float32, a, b []uint16, vLo, vHi uint32, rLo, rHi, limLo, limHi int, keepLo, keepHi int32, w float32, first, last bool) (done, newLo, newHi int)
//
// subWindowScaleBF16AVX512 on two vectors of 16 per iteration, rounding
// the task vector and the term with VCVTNE2PS2BF16: the 32 packed
// magnitudes are compared as words with the boundaries' bfloat16 bits
// (whose low halves the caller keeps zero), the boundary lanes counted
// and kept as there, 32 at a time, and the kept lanes widened back
// (BF16WIDENLO512, BF16WIDENHI512), weighted and rounded again. The caller
// keeps vLo at least the smallest normal and |w|·vLo at least 2^-126 (or
// w = 0), so that every kept entry and every non-zero term is normal.
TEXT ·subWindowScaleBF16CVT(SB), NOSPLIT, $0-176
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         sum_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         b_base+72(FP), DX
	MOVL         vLo+96(FP), AX
	SHRL         $16, AX
	VPBROADCASTW AX, Z20
	MOVL         vHi+100(FP), AX
	SHRL         $16, AX
	VPBROADCASTW AX, Z21
	MOVQ         rLo+104(FP), R11
	MOVQ         rHi+112(FP), R12
	MOVQ         limLo+120(FP), R13
	MOVQ         limHi+128(FP), R14
	MOVL         keepLo+136(FP), AX
	KMOVD        AX, K5
	MOVL         keepHi+140(FP), AX
	KMOVD        AX, K6
	VBROADCASTSS w+144(FP), Z23
	MOVBLZX      first+148(FP), R9
	MOVBLZX      last+149(FP), R10
	MOVL         $0x7fff, AX
	VPBROADCASTW AX, Z19
	BF16CONSTS512(·sw7fff<>(SB), ·sw1<>(SB), ·swhigh<>(SB), ·swabs<>(SB), ·swinf<>(SB), ·swquiet<>(SB))
	BF16WIDENCONSTS512
	BF16WIDENHICONSTS512(Z18)
	SHRQ         $5, CX
	JZ           swcDone

swcLoop:
	SUBBF16PAIR512
	CVTNE2PS2BF16_Z4_Z1_Z0       // d
	VPANDD   Z19, Z4, Z5         // u
	VPCMPEQW Z20, Z5, K2         // u == vLo
	VPCMPEQW Z21, Z5, K3         // u == vHi
	KANDND   K3, K2, K3          // but not vLo
	KMOVD    K2, AX
	KMOVD    K3, BX
	POPCNTL  AX, AX
	POPCNTL  BX, BX
	ADDQ     R11, AX
	ADDQ     R12, BX
	CMPQ     AX, R13
	JGT      swcDone
	CMPQ     BX, R14
	JGT      swcDone
	MOVQ     AX, R11
	MOVQ     BX, R12
	KANDD    K5, K2, K2
	KANDD    K6, K3, K3
	KORD     K3, K2, K2          // boundary lanes kept
	VPCMPUW  $6, Z20, Z5, K4     // u > vLo
	VPCMPUW  $1, Z21, Z5, K4, K4 // and u < vHi
	KORD     K4, K2, K2          // kept
	VMOVDQU16.Z Z4, K2, Z4
	SCALEPAIR512(Z23, Z18)
	UNPACKPAIR512(Z18)
	TERMSUMPAIR512(swcAdd, swcStore)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $128, DI
	ADDQ    $128, R8
	DECQ    CX
	JNZ     swcLoop

swcDone:
	SUBQ dst_base+0(FP), DI
	SHRQ $2, DI
	MOVQ DI, done+152(FP)
	MOVQ R11, newLo+160(FP)
	MOVQ R12, newHi+168(FP)
	VZEROUPPER
	RET
