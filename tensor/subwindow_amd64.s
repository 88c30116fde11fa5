//go:build amd64 && gc && !purego

#include "textflag.h"

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

#include "bf16round512_amd64.h"
#include "bf16widen512_amd64.h"

// func subCountWindowBF16AVX512(c *subWindowCounts, a, b []uint16, lo, hi uint32)
//
// One vector of 16 per iteration: widen and subtract as subBF16AVX512,
// round (BF16ROUND512) and clear the sign: u, whose low 16 bits are zero
// (BF16ROUND512 clears them, NaNs too), as are lo's. Without masks or
// compares: (hi−u)>>31 is 1 where u > hi (u and hi are below 2^31), added
// to row 0 (Z10); (u−lo)>>14 is 4t for t = (u−lo)>>16, and 1<<4t
// (VPSLLVD) adds one to the 4-bit field t of Z16, where the shift count
// is made ≥ 32, which shifts the 1 out, for u > hi (ORed with the sign of
// hi−u) and u < lo (the subtraction wraps). Every 15 vectors, before a
// field can overflow, the five fields are added to rows 1-5 (Z11..Z15).
TEXT ·subCountWindowBF16AVX512(SB), NOSPLIT, $0-64
	MOVQ         c+0(FP), R8
	MOVQ         a_base+8(FP), SI
	MOVQ         a_len+16(FP), CX
	MOVQ         b_base+32(FP), DX
	MOVL         lo+56(FP), AX
	VPBROADCASTD AX, Z23
	MOVL         hi+60(FP), AX
	VPBROADCASTD AX, Z24
	BF16CONSTS512(·sw7fff<>(SB), ·sw1<>(SB), ·swhigh<>(SB), ·swabs<>(SB), ·swinf<>(SB), ·swquiet<>(SB))
	BF16WIDENCONSTS512
	VPSLLD       $4, Z29, Z17
	VPSUBD       Z29, Z17, Z17     // 0xf
	VMOVDQU32    (R8), Z10
	VMOVDQU32    64(R8), Z11
	VMOVDQU32    128(R8), Z12
	VMOVDQU32    192(R8), Z13
	VMOVDQU32    256(R8), Z14
	VMOVDQU32    320(R8), Z15
	SHRQ         $4, CX
	JZ           sw5Done

sw5Run:
	MOVQ    $15, BX
	CMPQ    CX, BX
	CMOVQLT CX, BX
	SUBQ    BX, CX
	VPXORD  Z16, Z16, Z16

sw5Loop:
	BF16WIDEN512((SI), Y0, Z0)
	BF16WIDEN512((DX), Y1, Z1)
	VSUBPS    Z1, Z0, Z0
	BF16ROUND512(Z0, Z2, Z3)
	VPANDD    Z27, Z2, Z2         // u
	VPSUBD    Z2, Z24, Z4         // hi − u
	VPSRLD    $31, Z4, Z5
	VPADDD    Z5, Z10, Z10        // u > hi
	VPSRAD    $31, Z4, Z4
	VPSUBD    Z23, Z2, Z2
	VPSRLD    $14, Z2, Z2         // 4t
	VPORD     Z4, Z2, Z2
	VPSLLVD   Z2, Z29, Z2
	VPADDD    Z2, Z16, Z16
	ADDQ      $32, SI
	ADDQ      $32, DX
	DECQ      BX
	JNZ       sw5Loop

	VPANDD  Z17, Z16, Z0
	VPADDD  Z0, Z11, Z11
	VPSRLD  $4, Z16, Z16
	VPANDD  Z17, Z16, Z0
	VPADDD  Z0, Z12, Z12
	VPSRLD  $4, Z16, Z16
	VPANDD  Z17, Z16, Z0
	VPADDD  Z0, Z13, Z13
	VPSRLD  $4, Z16, Z16
	VPANDD  Z17, Z16, Z0
	VPADDD  Z0, Z14, Z14
	VPSRLD  $4, Z16, Z16
	VPADDD  Z16, Z15, Z15         // the top field: nothing above it
	TESTQ   CX, CX
	JNZ     sw5Run

sw5Done:
	VMOVDQU32 Z10, (R8)
	VMOVDQU32 Z11, 64(R8)
	VMOVDQU32 Z12, 128(R8)
	VMOVDQU32 Z13, 192(R8)
	VMOVDQU32 Z14, 256(R8)
	VMOVDQU32 Z15, 320(R8)
	VZEROUPPER
	RET

#include "bf16cvt512_amd64.h"
#include "cvtpair512_amd64.h"

// func subCountWindowBF16CVT(c *subWindowCounts16, a, b []uint16, lo, hi uint16)
//
// Two vectors of 16 per iteration, rounded together by VCVTNE2PS2BF16
// into 32 words, then counted in 16-bit lanes: u, the rounded magnitude's
// bfloat16 bits, above hi adds one to row 0 (Z10); t = min(u − lo, 5)
// (u − lo wraps below lo) adds 1<<3t to the 3-bit field t of Z16, and
// every 7 iterations, before a field can overflow, the five fields are
// added to rows 1-5 (Z11..Z15). t = 5 sets bit 15, whose carries leave
// the lane. The caller bounds len(a) by 32·65535, so that no 16-bit
// counter overflows, and keeps lo at least 0x0080: a denormal
// difference, which the instruction flushes to zero, then lies below the
// window either way. (NaNs come out as BF16ROUND512 makes them.)
TEXT ·subCountWindowBF16CVT(SB), NOSPLIT, $0-60
	MOVQ         c+0(FP), R8
	MOVQ         a_base+8(FP), SI
	MOVQ         a_len+16(FP), CX
	MOVQ         b_base+32(FP), DX
	MOVWLZX      lo+56(FP), AX
	VPBROADCASTW AX, Z23
	MOVWLZX      hi+58(FP), AX
	VPBROADCASTW AX, Z24
	MOVL         $0x7fff, AX
	VPBROADCASTW AX, Z21
	MOVL         $5, AX
	VPBROADCASTW AX, Z20
	MOVL         $1, AX
	VPBROADCASTW AX, Z19
	MOVL         $7, AX
	VPBROADCASTW AX, Z17
	BF16WIDENCONSTS512
	VMOVDQU16    (R8), Z10
	VMOVDQU16    64(R8), Z11
	VMOVDQU16    128(R8), Z12
	VMOVDQU16    192(R8), Z13
	VMOVDQU16    256(R8), Z14
	VMOVDQU16    320(R8), Z15
	SHRQ         $5, CX
	JZ           scDone

scRun:
	MOVQ    $7, BX
	CMPQ    CX, BX
	CMOVQLT CX, BX
	SUBQ    BX, CX
	VPXORD  Z16, Z16, Z16

scLoop:
	SUBBF16PAIR512
	CVTNE2PS2BF16_Z4_Z1_Z0
	VPANDD  Z21, Z4, Z4           // u
	VPCMPUW $6, Z24, Z4, K1       // u > hi
	VPADDW  Z19, Z10, K1, Z10
	VPSUBW  Z23, Z4, Z5           // t
	VPMINUW Z20, Z5, Z5
	VPADDW  Z5, Z5, Z6
	VPADDW  Z6, Z5, Z5            // 3t
	VPSLLVW Z5, Z19, Z5
	VPADDW  Z5, Z16, Z16
	ADDQ    $64, SI
	ADDQ    $64, DX
	DECQ    BX
	JNZ     scLoop

	VPANDD Z17, Z16, Z0
	VPADDW Z0, Z11, Z11
	VPSRLW $3, Z16, Z16
	VPANDD Z17, Z16, Z0
	VPADDW Z0, Z12, Z12
	VPSRLW $3, Z16, Z16
	VPANDD Z17, Z16, Z0
	VPADDW Z0, Z13, Z13
	VPSRLW $3, Z16, Z16
	VPANDD Z17, Z16, Z0
	VPADDW Z0, Z14, Z14
	VPSRLW $3, Z16, Z16
	VPANDD Z17, Z16, Z0
	VPADDW Z0, Z15, Z15
	TESTQ  CX, CX
	JNZ    scRun

scDone:
	VMOVDQU16 Z10, (R8)
	VMOVDQU16 Z11, 64(R8)
	VMOVDQU16 Z12, 128(R8)
	VMOVDQU16 Z13, 192(R8)
	VMOVDQU16 Z14, 256(R8)
	VMOVDQU16 Z15, 320(R8)
	VZEROUPPER
	RET
