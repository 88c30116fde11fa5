//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 body of meanblend_amd64.go.

DATA ·mb7fff<>+0(SB)/4, $0x00007fff
GLOBL ·mb7fff<>(SB), RODATA|NOPTR, $4
DATA ·mb1<>+0(SB)/4, $0x00000001
GLOBL ·mb1<>(SB), RODATA|NOPTR, $4
DATA ·mbquiet<>+0(SB)/4, $0x00400000
GLOBL ·mbquiet<>(SB), RODATA|NOPTR, $4
DATA ·mbhigh<>+0(SB)/4, $0xffff0000
GLOBL ·mbhigh<>(SB), RODATA|NOPTR, $4
DATA ·mbabs<>+0(SB)/4, $0x7fffffff
GLOBL ·mbabs<>(SB), RODATA|NOPTR, $4
DATA ·mbinf<>+0(SB)/4, $0x7f800000
GLOBL ·mbinf<>(SB), RODATA|NOPTR, $4

#include "bf16round_amd64.h"

// func meanBlendBF16AVX2(out []float32, xs [][]byte, base []byte, m, ratio, keep float32)
TEXT ·meanBlendBF16AVX2(SB), NOSPLIT, $0-84
	MOVQ         out_base+0(FP), DI
	MOVQ         out_len+8(FP), CX
	MOVQ         xs_base+24(FP), R9
	MOVQ         xs_len+32(FP), R10
	MOVQ         base_base+48(FP), BX
	VBROADCASTSS m+72(FP), Y8
	VBROADCASTSS ratio+76(FP), Y7
	VBROADCASTSS keep+80(FP), Y6
	VPBROADCASTD ·mb7fff<>(SB), Y14
	VPBROADCASTD ·mb1<>(SB), Y13
	VPBROADCASTD ·mbhigh<>(SB), Y12
	VPBROADCASTD ·mbabs<>(SB), Y11
	VPBROADCASTD ·mbinf<>(SB), Y10
	VPBROADCASTD ·mbquiet<>(SB), Y9
	XORQ         AX, AX // byte offset into the inputs
	SHRQ         $3, CX
	JZ           mbdone

mbloop:
	MOVQ      (R9), SI // xs[0]'s data
	VPMOVZXWD (SI)(AX*1), Y0
	VPSLLD    $16, Y0, Y0
	LEAQ      24(R9), R11
	MOVQ      R10, R12
	DECQ      R12
	JZ        mbmean

mbsum:
	MOVQ      (R11), SI
	VPMOVZXWD (SI)(AX*1), Y1
	VPSLLD    $16, Y1, Y1
	VADDPS    Y1, Y0, Y1 // sum + x
	BF16ROUNDF(Y1, Y0, Y4, Y5)
	ADDQ      $24, R11
	DECQ      R12
	JNZ       mbsum

mbmean:
	VDIVPS    Y8, Y0, Y1 // sum / m
	BF16ROUNDF(Y1, Y0, Y4, Y5)
	VMULPS    Y7, Y0, Y1 // mean · ratio
	BF16ROUNDF(Y1, Y0, Y4, Y5)
	VPMOVZXWD (BX)(AX*1), Y1
	VPSLLD    $16, Y1, Y1
	VMULPS    Y6, Y1, Y1 // base · keep
	BF16ROUNDF(Y1, Y2, Y4, Y5)
	VADDPS    Y0, Y2, Y1 // product + acc
	BF16ROUNDF(Y1, Y0, Y4, Y5)
	VMOVUPS   Y0, (DI)
	ADDQ      $32, DI
	ADDQ      $16, AX
	DECQ      CX
	JNZ       mbloop

mbdone:
	VZEROUPPER
	RET
