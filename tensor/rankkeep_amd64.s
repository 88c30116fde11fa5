//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·rk7fff<>+0(SB)/4, $0x00007fff
GLOBL ·rk7fff<>(SB), RODATA|NOPTR, $4
DATA ·rkone<>+0(SB)/4, $0x00000001
GLOBL ·rkone<>(SB), RODATA|NOPTR, $4

// func rankKeepAVX512(x []float32, draws *uint32, next *int32, limits *uint32, keep *uint16)
TEXT ·rankKeepAVX512(SB), NOSPLIT, $0-56
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	MOVQ         draws+24(FP), SI
	MOVQ         next+32(FP), R8
	MOVQ         limits+40(FP), R9
	MOVQ         keep+48(FP), R10
	VPBROADCASTD ·rk7fff<>(SB), Z15
	VPBROADCASTD ·rkone<>(SB), Z14
	SHRQ         $4, CX
	JZ           rkDone

rkLoop:
	VMOVDQU32   (DI), Z0
	VPSRLD      $16, Z0, Z1
	VPANDD      Z15, Z1, Z1           // keys
	VPCONFLICTD Z1, Z2                // earlier lanes with the same key
	VPOPCNTD    Z2, Z3                // how many
	KXNORW      K0, K0, K1
	VPGATHERDD  (R8)(Z1*4), K1, Z4    // next[k]
	VPADDD      Z3, Z4, Z4            // ranks
	KXNORW      K0, K0, K2
	VPGATHERDD  (R9)(Z4*4), K2, Z5    // limits[rank]
	VMOVDQU32   (SI), Z6              // draws
	VPCMPUD     $2, Z5, Z6, K3        // draws <= limits: kept
	VMOVDQU32.Z Z0, K3, Z7
	VMOVDQU32   Z7, (DI)
	KMOVW       K3, AX
	ORW         AX, (R10)
	VPADDD      Z14, Z4, Z4           // next[k] = rank + 1, the highest lane last
	KXNORW      K0, K0, K4
	VPSCATTERDD Z4, K4, (R8)(Z1*4)
	ADDQ        $64, DI
	ADDQ        $64, SI
	ADDQ        $2, R10
	DECQ        CX
	JNZ         rkLoop

rkDone:
	VZEROUPPER
	RET
