//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX-512 bodies of divround512_amd64.go.

DATA ·dz7fff<>+0(SB)/4, $0x00007fff
GLOBL ·dz7fff<>(SB), RODATA|NOPTR, $4
DATA ·dz1<>+0(SB)/4, $0x00000001
GLOBL ·dz1<>(SB), RODATA|NOPTR, $4
DATA ·dzquiet<>+0(SB)/4, $0x00400000
GLOBL ·dzquiet<>(SB), RODATA|NOPTR, $4
DATA ·dzhigh<>+0(SB)/4, $0xffff0000
GLOBL ·dzhigh<>(SB), RODATA|NOPTR, $4
DATA ·dzabs<>+0(SB)/4, $0x7fffffff
GLOBL ·dzabs<>(SB), RODATA|NOPTR, $4
DATA ·dzinf<>+0(SB)/4, $0x7f800000
GLOBL ·dzinf<>(SB), RODATA|NOPTR, $4

#include "bf16round512_amd64.h"

// func divMulRoundBF16AVX512(dst, a, b []float32, da, db float32)
TEXT ·divMulRoundBF16AVX512(SB), NOSPLIT, $0-80
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         b_base+48(FP), DX
	VBROADCASTSS da+72(FP), Z8
	VBROADCASTSS db+76(FP), Z15
	BF16CONSTS512(·dz7fff<>(SB), ·dz1<>(SB), ·dzhigh<>(SB), ·dzabs<>(SB), ·dzinf<>(SB), ·dzquiet<>(SB))
	SHRQ         $4, CX
	JZ           dmzdone

dmzloop:
	VMOVUPS (SI), Z0
	VDIVPS  Z8, Z0, Z0            // a/da
	BF16ROUND512(Z0, Z1, Z2)
	VMOVUPS (DX), Z0
	VDIVPS  Z15, Z0, Z0           // b/db
	BF16ROUND512(Z0, Z4, Z2)
	VMULPS  Z4, Z1, Z0
	BF16ROUND512(Z0, Z1, Z2)
	VMOVUPS Z1, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     dmzloop

dmzdone:
	VZEROUPPER
	RET

// func combineDivRoundBF16AVX512(dst, a, b, base []float32, ca, cb, d float32)
TEXT ·combineDivRoundBF16AVX512(SB), NOSPLIT, $0-108
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         b_base+48(FP), DX
	MOVQ         base_base+72(FP), R8
	MOVQ         base_len+80(FP), R9
	VBROADCASTSS ca+96(FP), Z8
	VBROADCASTSS cb+100(FP), Z15
	VBROADCASTSS d+104(FP), Z7
	BF16CONSTS512(·dz7fff<>(SB), ·dz1<>(SB), ·dzhigh<>(SB), ·dzabs<>(SB), ·dzinf<>(SB), ·dzquiet<>(SB))
	SHRQ         $4, CX
	JZ           cdzdone

cdzloop:
	VMOVUPS (SI), Z0
	VMULPS  Z8, Z0, Z0            // ca·a
	BF16ROUND512(Z0, Z1, Z2)
	VMOVUPS (DX), Z0
	VMULPS  Z15, Z0, Z0           // cb·b
	BF16ROUND512(Z0, Z4, Z2)
	VADDPS  Z4, Z1, Z0
	BF16ROUND512(Z0, Z1, Z2)
	VDIVPS  Z7, Z1, Z0            // /d
	BF16ROUND512(Z0, Z1, Z2)
	TESTQ   R9, R9
	JZ      cdzstore
	VADDPS  (R8), Z1, Z0          // + base
	BF16ROUND512(Z0, Z1, Z2)
	ADDQ    $64, R8

cdzstore:
	VMOVUPS Z1, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     cdzloop

cdzdone:
	VZEROUPPER
	RET
