//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·sk7fff<>+0(SB)/4, $0x00007fff
GLOBL ·sk7fff<>(SB), RODATA|NOPTR, $4
DATA ·sk1<>+0(SB)/4, $0x00000001
GLOBL ·sk1<>(SB), RODATA|NOPTR, $4
DATA ·skquiet<>+0(SB)/4, $0x00400000
GLOBL ·skquiet<>(SB), RODATA|NOPTR, $4
DATA ·skhigh<>+0(SB)/4, $0xffff0000
GLOBL ·skhigh<>(SB), RODATA|NOPTR, $4
DATA ·skabs<>+0(SB)/4, $0x7fffffff
GLOBL ·skabs<>(SB), RODATA|NOPTR, $4
DATA ·skinf<>+0(SB)/4, $0x7f800000
GLOBL ·skinf<>(SB), RODATA|NOPTR, $4

#include "bf16round512_amd64.h"

// func subKeepAbsSumsBF16AVX512(all, kept *[16]float64, a, b []uint16, draws []uint32, bound uint32)
//
// One vector of 16 per iteration: widen and subtract as subBF16AVX512,
// round (BF16ROUND512), clear the sign, widen to float64 (elements 0-7,
// then 8-15) and add to all's lanes (Z16, Z17); add the same to kept's
// (Z18, Z19) under the mask draw < bound (VPCMPUD, unsigned).
TEXT ·subKeepAbsSumsBF16AVX512(SB), NOSPLIT, $0-92
	MOVQ         all+0(FP), R8
	MOVQ         kept+8(FP), R9
	MOVQ         a_base+16(FP), SI
	MOVQ         b_base+40(FP), DX
	MOVQ         draws_base+64(FP), R11
	MOVQ         draws_len+72(FP), CX
	MOVL         bound+88(FP), AX
	VPBROADCASTD AX, Z24
	BF16CONSTS512(·sk7fff<>(SB), ·sk1<>(SB), ·skhigh<>(SB), ·skabs<>(SB), ·skinf<>(SB), ·skquiet<>(SB))
	VMOVUPD      (R8), Z16
	VMOVUPD      64(R8), Z17
	VMOVUPD      (R9), Z18
	VMOVUPD      64(R9), Z19
	SHRQ         $4, CX
	JZ           ks5Done

ks5Loop:
	VPMOVZXWD     (SI), Z0
	VPMOVZXWD     (DX), Z1
	VPSLLD        $16, Z0, Z0
	VPSLLD        $16, Z1, Z1
	VSUBPS        Z1, Z0, Z0
	BF16ROUND512(Z0, Z2, Z3)     // d
	VPANDD        Z27, Z2, Z2    // |d|
	VMOVDQU32     (R11), Z4
	VPCMPUD       $1, Z24, Z4, K2 // draw < bound
	KSHIFTRW      $8, K2, K3
	VCVTPS2PD     Y2, Z5
	VEXTRACTF64X4 $1, Z2, Y6
	VCVTPS2PD     Y6, Z6
	VADDPD        Z5, Z16, Z16
	VADDPD        Z6, Z17, Z17
	VADDPD        Z5, Z18, K2, Z18
	VADDPD        Z6, Z19, K3, Z19
	ADDQ          $32, SI
	ADDQ          $32, DX
	ADDQ          $64, R11
	DECQ          CX
	JNZ           ks5Loop

ks5Done:
	VMOVUPD Z16, (R8)
	VMOVUPD Z17, 64(R8)
	VMOVUPD Z18, (R9)
	VMOVUPD Z19, 64(R9)
	VZEROUPPER
	RET
