//go:build amd64 && gc && !purego

#include "textflag.h"
#include "bf16round_amd64.h"

DATA ·ab7fff<>+0(SB)/4, $0x00007fff
GLOBL ·ab7fff<>(SB), RODATA|NOPTR, $4
DATA ·ab1<>+0(SB)/4, $0x00000001
GLOBL ·ab1<>(SB), RODATA|NOPTR, $4
DATA ·abhigh<>+0(SB)/4, $0xffff0000
GLOBL ·abhigh<>(SB), RODATA|NOPTR, $4
DATA ·ababs<>+0(SB)/4, $0x7fffffff
GLOBL ·ababs<>(SB), RODATA|NOPTR, $4
DATA ·abinf<>+0(SB)/4, $0x7f800000
GLOBL ·abinf<>(SB), RODATA|NOPTR, $4
DATA ·abquiet<>+0(SB)/4, $0x00400000
GLOBL ·abquiet<>(SB), RODATA|NOPTR, $4

// func axpyRoundBF16StoredAVX2(acc []float32, w float32, x []uint16)
//
// x widened to float32 (exact), *w, rounded to BF16, +acc: the operand
// order of axpyRoundBF16AVX2, so that NaN payloads agree too.
TEXT ·axpyRoundBF16StoredAVX2(SB), NOSPLIT, $0-56
	MOVQ         acc_base+0(FP), DI
	MOVQ         acc_len+8(FP), CX
	VBROADCASTSS w+24(FP), Y8
	MOVQ         x_base+32(FP), SI
	VPBROADCASTD ·ab7fff<>(SB), Y14
	VPBROADCASTD ·ab1<>(SB), Y13
	VPBROADCASTD ·abhigh<>(SB), Y12
	VPBROADCASTD ·ababs<>(SB), Y11
	VPBROADCASTD ·abinf<>(SB), Y10
	VPBROADCASTD ·abquiet<>(SB), Y9
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           abTail

abLoop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VMULPS    Y8, Y0, Y0
	VMULPS    Y8, Y1, Y1
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	BF16ROUNDF(Y1, Y3, Y6, Y7)
	VADDPS    (DI), Y2, Y2
	VMOVUPS   Y2, (DI)
	VADDPS    32(DI), Y3, Y3
	VMOVUPS   Y3, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      BX
	JNZ       abLoop

abTail:
	TESTQ     $8, CX
	JZ        abDone
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VMULPS    Y8, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	VADDPS    (DI), Y2, Y2
	VMOVUPS   Y2, (DI)

abDone:
	VZEROUPPER
	RET
