//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 body of disjoint_amd64.go, with the constants of BF16ROUNDF.

DATA ·dj7fff<>+0(SB)/4, $0x00007fff
GLOBL ·dj7fff<>(SB), RODATA|NOPTR, $4
DATA ·dj1<>+0(SB)/4, $0x00000001
GLOBL ·dj1<>(SB), RODATA|NOPTR, $4
DATA ·djquiet<>+0(SB)/4, $0x00400000
GLOBL ·djquiet<>(SB), RODATA|NOPTR, $4
DATA ·djhigh<>+0(SB)/4, $0xffff0000
GLOBL ·djhigh<>(SB), RODATA|NOPTR, $4
DATA ·djabs<>+0(SB)/4, $0x7fffffff
GLOBL ·djabs<>(SB), RODATA|NOPTR, $4
DATA ·djinf<>+0(SB)/4, $0x7f800000
GLOBL ·djinf<>(SB), RODATA|NOPTR, $4
DATA ·djone<>+0(SB)/4, $0x3f800000
GLOBL ·djone<>(SB), RODATA|NOPTR, $4

#include "bf16round_amd64.h"

// func disjointMergeBF16AVX2(out []float32, x [][]float32, w, sign []float32, base []uint16, normalize bool)
//
// One vector of 8 per iteration, the sum and the weight sum in registers
// while an inner loop goes over the inputs: each agreeing entry and its
// weight are added as addAgreeingAVX2 adds them (the masked operand
// first), then the sum is rounded, divided as divNonZeroRoundBF16AVX2
// divides (by 1 where the rounded weight sum is ±0) and the base added
// (out+base as addAVX2). len(x) is at least 1.
TEXT ·disjointMergeBF16AVX2(SB), NOSPLIT, $0-121
	MOVQ         out_base+0(FP), DI
	MOVQ         out_len+8(FP), CX
	MOVQ         x_base+24(FP), R8
	MOVQ         x_len+32(FP), R9
	MOVQ         w_base+48(FP), R11
	MOVQ         sign_base+72(FP), DX
	MOVQ         base_base+96(FP), SI
	MOVBLZX      normalize+120(FP), R13
	VXORPS       Y15, Y15, Y15
	VPBROADCASTD ·djone<>(SB), Y8
	VPBROADCASTD ·dj7fff<>(SB), Y14
	VPBROADCASTD ·dj1<>(SB), Y13
	VPBROADCASTD ·djhigh<>(SB), Y12
	VPBROADCASTD ·djabs<>(SB), Y11
	VPBROADCASTD ·djinf<>(SB), Y10
	VPBROADCASTD ·djquiet<>(SB), Y9
	XORQ         R10, R10          // byte offset into the float32 slices
	SHRQ         $3, CX
	JZ           djDone

djLoop:
	VXORPS  Y0, Y0, Y0           // sum
	VXORPS  Y1, Y1, Y1           // weight sum
	VMOVUPS (DX)(R10*1), Y2
	VCMPPS  $1, Y15, Y2, Y2      // sign < 0 (a zero elects +)
	MOVQ    R8, AX               // the slice headers of x
	MOVQ    R11, R12             // the weights
	MOVQ    R9, BX

djInput:
	MOVQ         (AX), R14
	VMOVUPS      (R14)(R10*1), Y3
	VCMPPS       $1, Y15, Y3, Y4   // x < 0
	VXORPS       Y2, Y4, Y4        // all ones where the signs differ
	VCMPPS       $4, Y15, Y3, Y5   // x != 0 (NEQ_UQ)
	VANDNPS      Y5, Y4, Y4        // agree
	VANDPS       Y3, Y4, Y6
	VADDPS       Y0, Y6, Y0
	VBROADCASTSS (R12), Y7
	VANDPS       Y7, Y4, Y7
	VADDPS       Y1, Y7, Y1
	ADDQ         $24, AX
	ADDQ         $4, R12
	DECQ         BX
	JNZ          djInput

	BF16ROUNDF(Y0, Y3, Y4, Y5)   // the rounded sum
	TESTQ     R13, R13
	JZ        djBase
	BF16ROUNDF(Y1, Y6, Y4, Y5)   // the rounded weight sum
	VCMPPS    $0, Y15, Y6, Y4
	VBLENDVPS Y4, Y8, Y6, Y6
	VDIVPS    Y6, Y3, Y3
	BF16ROUNDF(Y3, Y0, Y4, Y5)
	VMOVAPS   Y0, Y3

djBase:
	VPMOVZXWD (SI), Y4
	VPSLLD    $16, Y4, Y4
	VADDPS    Y4, Y3, Y3
	VMOVUPS   Y3, (DI)(R10*1)
	ADDQ      $16, SI
	ADDQ      $32, R10
	DECQ      CX
	JNZ       djLoop

djDone:
	VZEROUPPER
	RET

#include "bf16round512_amd64.h"

// func disjointMergeBF16AVX512(out []float32, x [][]float32, w, sign []float32, base []uint16, normalize bool)
//
// disjointMergeBF16AVX2 on 16 lanes (AVX-512F and BW). Per input, an entry
// agrees where x > 0 or is a NaN (NLE_UQ) if the sum elects + (K2: sign
// not below 0, a zero electing +), and where x < 0 (LT_OQ) if it elects −
// (K3): the two compares, each under its mask, and an OR give the mask of
// the compares' chain (x != 0 and x < 0 matching sign < 0). The agreeing
// entries and weights are added by merge-masked adds, the entry or weight
// first as in the chain; where nothing agrees the chain added +0, which
// changes no sum here: the sums start at +0 and are never −0 (the entries
// added have one sign, and an exact cancellation of weights gives +0).
TEXT ·disjointMergeBF16AVX512(SB), NOSPLIT, $0-121
	MOVQ         out_base+0(FP), DI
	MOVQ         out_len+8(FP), CX
	MOVQ         x_base+24(FP), R8
	MOVQ         x_len+32(FP), R9
	MOVQ         w_base+48(FP), R11
	MOVQ         sign_base+72(FP), DX
	MOVQ         base_base+96(FP), SI
	MOVBLZX      normalize+120(FP), R13
	VPXORD       Z31, Z31, Z31
	VPBROADCASTD ·djone<>(SB), Z24
	BF16CONSTS512(·dj7fff<>(SB), ·dj1<>(SB), ·djhigh<>(SB), ·djabs<>(SB), ·djinf<>(SB), ·djquiet<>(SB))
	XORQ         R10, R10          // byte offset into the float32 slices
	SHRQ         $4, CX
	JZ           dj5Done

dj5Loop:
	VPXORD  Z0, Z0, Z0           // sum
	VPXORD  Z1, Z1, Z1           // weight sum
	VMOVUPS (DX)(R10*1), Z2
	VCMPPS  $1, Z31, Z2, K3      // sign < 0 (a zero elects +)
	KNOTW   K3, K2
	MOVQ    R8, AX
	MOVQ    R11, R12
	MOVQ    R9, BX

dj5Input:
	MOVQ         (AX), R14
	VMOVUPS      (R14)(R10*1), Z3
	VCMPPS       $0x16, Z31, Z3, K2, K6 // x > 0 or NaN, where + is elected
	VCMPPS       $0x11, Z31, Z3, K3, K5 // x < 0, where − is elected
	KORW         K5, K6, K6             // agree
	VADDPS       Z0, Z3, K6, Z0         // x + sum where agreeing
	VBROADCASTSS (R12), Z7
	VADDPS       Z1, Z7, K6, Z1         // w + weight sum where agreeing
	ADDQ         $24, AX
	ADDQ         $4, R12
	DECQ         BX
	JNZ          dj5Input

dj5Sums:
	BF16ROUND512(Z0, Z3, Z4)     // the rounded sum
	TESTQ     R13, R13
	JZ        dj5Base
	BF16ROUND512(Z1, Z6, Z4)     // the rounded weight sum
	VCMPPS    $0, Z31, Z6, K2
	VMOVDQU32 Z24, K2, Z6        // 1 where it is ±0
	VDIVPS    Z6, Z3, Z3
	BF16ROUND512(Z3, Z0, Z4)
	VMOVDQU32 Z0, Z3

dj5Base:
	VPMOVZXWD (SI), Z4
	VPSLLD    $16, Z4, Z4
	VADDPS    Z4, Z3, Z3
	VMOVUPS   Z3, (DI)(R10*1)
	ADDQ      $32, SI
	ADDQ      $64, R10
	DECQ      CX
	JNZ       dj5Loop

dj5Done:
	VZEROUPPER
	RET
