//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX-512 body of meanblend512_amd64.go.

DATA ·mz7fff<>+0(SB)/4, $0x00007fff
GLOBL ·mz7fff<>(SB), RODATA|NOPTR, $4
DATA ·mz1<>+0(SB)/4, $0x00000001
GLOBL ·mz1<>(SB), RODATA|NOPTR, $4
DATA ·mzquiet<>+0(SB)/4, $0x00400000
GLOBL ·mzquiet<>(SB), RODATA|NOPTR, $4
DATA ·mzhigh<>+0(SB)/4, $0xffff0000
GLOBL ·mzhigh<>(SB), RODATA|NOPTR, $4
DATA ·mzabs<>+0(SB)/4, $0x7fffffff
GLOBL ·mzabs<>(SB), RODATA|NOPTR, $4
DATA ·mzinf<>+0(SB)/4, $0x7f800000
GLOBL ·mzinf<>(SB), RODATA|NOPTR, $4

#include "bf16round512_amd64.h"

// func meanBlendBF16AVX512(out []float32, xs [][]byte, base []byte, m, ratio, keep float32)
TEXT ·meanBlendBF16AVX512(SB), NOSPLIT, $0-84
	MOVQ         out_base+0(FP), DI
	MOVQ         out_len+8(FP), CX
	MOVQ         xs_base+24(FP), R9
	MOVQ         xs_len+32(FP), R10
	MOVQ         base_base+48(FP), BX
	VBROADCASTSS m+72(FP), Z8
	VBROADCASTSS ratio+76(FP), Z7
	VBROADCASTSS keep+80(FP), Z6
	BF16CONSTS512(·mz7fff<>(SB), ·mz1<>(SB), ·mzhigh<>(SB), ·mzabs<>(SB), ·mzinf<>(SB), ·mzquiet<>(SB))
	XORQ         AX, AX // byte offset into the inputs
	SHRQ         $4, CX
	JZ           mzdone

mzloop:
	MOVQ      (R9), SI // xs[0]'s data
	VPMOVZXWD (SI)(AX*1), Z0
	VPSLLD    $16, Z0, Z0
	LEAQ      24(R9), R11
	MOVQ      R10, R12
	DECQ      R12
	JZ        mzmean

mzsum:
	MOVQ      (R11), SI
	VPMOVZXWD (SI)(AX*1), Z1
	VPSLLD    $16, Z1, Z1
	VADDPS    Z1, Z0, Z1 // sum + x
	BF16ROUND512(Z1, Z0, Z4)
	ADDQ      $24, R11
	DECQ      R12
	JNZ       mzsum

mzmean:
	VDIVPS    Z8, Z0, Z1 // sum / m
	BF16ROUND512(Z1, Z0, Z4)
	VMULPS    Z7, Z0, Z1 // mean · ratio
	BF16ROUND512(Z1, Z0, Z4)
	VPMOVZXWD (BX)(AX*1), Z1
	VPSLLD    $16, Z1, Z1
	VMULPS    Z6, Z1, Z1 // base · keep
	BF16ROUND512(Z1, Z2, Z4)
	VADDPS    Z0, Z2, Z1 // product + acc
	BF16ROUND512(Z1, Z0, Z4)
	VMOVUPS   Z0, (DI)
	ADDQ      $64, DI
	ADDQ      $32, AX
	DECQ      CX
	JNZ       mzloop

mzdone:
	VZEROUPPER
	RET
