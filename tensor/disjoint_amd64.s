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
