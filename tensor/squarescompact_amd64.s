//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX-512 bodies of squarescompact_amd64.go, with the constants of
// BF16ROUND512. The compressed lanes are stored with full-width stores at
// the count so far, which is never more than the elements before them:
// the stores stay inside the first n elements of dst.

DATA ·sc7fff<>+0(SB)/4, $0x00007fff
GLOBL ·sc7fff<>(SB), RODATA|NOPTR, $4
DATA ·sc1<>+0(SB)/4, $0x00000001
GLOBL ·sc1<>(SB), RODATA|NOPTR, $4
DATA ·scquiet<>+0(SB)/4, $0x00400000
GLOBL ·scquiet<>(SB), RODATA|NOPTR, $4
DATA ·schigh<>+0(SB)/4, $0xffff0000
GLOBL ·schigh<>(SB), RODATA|NOPTR, $4
DATA ·scabs<>+0(SB)/4, $0x7fffffff
GLOBL ·scabs<>(SB), RODATA|NOPTR, $4
DATA ·scinf<>+0(SB)/4, $0x7f800000
GLOBL ·scinf<>(SB), RODATA|NOPTR, $4

#include "bf16round512_amd64.h"

// func compressAboveAVX512(dst *float32, v *float32, n int, gt int32) int
TEXT ·compressAboveAVX512(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         v+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVL         gt+24(FP), BX
	VPBROADCASTD BX, Z20
	VPBROADCASTD ·scabs<>(SB), Z21
	XORQ         AX, AX            // kept so far
	SHRQ         $4, CX
	JZ           caDone

caLoop:
	VMOVDQU32   (SI), Z0
	VPANDD      Z21, Z0, Z1        // magnitude bits
	VPCMPGTD    Z20, Z1, K2        // above gt
	VPCOMPRESSD Z0, K2, Z2
	VMOVDQU32   Z2, (DI)(AX*4)
	KMOVW       K2, BX
	POPCNTL     BX, BX
	ADDQ        BX, AX
	ADDQ        $64, SI
	DECQ        CX
	JNZ         caLoop

caDone:
	MOVQ AX, ret+32(FP)
	VZEROUPPER
	RET

// func squaresAboveAVX512(dst *float64, x *float32, v *float32, n int, gt int32) int
TEXT ·squaresAboveAVX512(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), DX
	MOVQ         v+16(FP), SI
	MOVQ         n+24(FP), CX
	MOVL         gt+32(FP), BX
	VPBROADCASTD BX, Z20
	VPBROADCASTD ·scabs<>(SB), Z21
	BF16CONSTS512(·sc7fff<>(SB), ·sc1<>(SB), ·schigh<>(SB), ·scabs<>(SB), ·scinf<>(SB), ·scquiet<>(SB))
	XORQ         AX, AX            // kept so far
	SHRQ         $4, CX
	JZ           saDone

saLoop:
	VMOVDQU32      (SI), Z0
	VPANDD         Z21, Z0, Z0     // magnitude bits
	VPCMPGTD       Z20, Z0, K2     // above gt
	KSHIFTRW       $8, K2, K3
	VMOVUPS        (DX), Z1
	VMULPS         Z1, Z1, Z1      // x·x
	BF16ROUND512(Z1, Z2, Z3)
	VCVTPS2PD      Y2, Z4
	VEXTRACTF32X8  $1, Z2, Y5
	VCVTPS2PD      Y5, Z5
	VCOMPRESSPD    Z4, K2, Z6
	VMOVUPD        Z6, (DI)(AX*8)
	KMOVW          K2, BX
	ANDL           $0xff, BX
	POPCNTL        BX, BX
	ADDQ           BX, AX
	VCOMPRESSPD    Z5, K3, Z7
	VMOVUPD        Z7, (DI)(AX*8)
	KMOVW          K3, BX
	POPCNTL        BX, BX
	ADDQ           BX, AX
	ADDQ           $64, SI
	ADDQ           $64, DX
	DECQ           CX
	JNZ            saLoop

saDone:
	MOVQ AX, ret+40(FP)
	VZEROUPPER
	RET
