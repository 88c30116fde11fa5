//go:build amd64 && gc && !purego

#include "textflag.h"

// func packBF16AVX512(panel *uint32, src *byte, idx *[16]int32, k int)
//
// Packs k column pairs of 32 bf16 rows into panel: panel[32l+j] = the
// dword at src + idx[j%16] + 16·idx[1]·(j/16) + 4l, for rows j < 32 and
// l < k > 0 (idx[j] = j·stride, the row stride in bytes): two gathers of
// 16 rows each per pair.
TEXT ·packBF16AVX512(SB), NOSPLIT, $0-32
	MOVQ panel+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ idx+16(FP), AX
	MOVQ k+24(FP), CX
	VMOVDQU32 (AX), Z30
	MOVLQSX 4(AX), BX
	SHLQ $4, BX
	LEAQ (SI)(BX*1), R8

loop:
	KXNORW K0, K0, K1
	KXNORW K0, K0, K2
	VPGATHERDD (SI)(Z30*1), K1, Z0
	VPGATHERDD (R8)(Z30*1), K2, Z1
	VMOVDQU32 Z0, (DI)
	VMOVDQU32 Z1, 64(DI)
	ADDQ $4, SI
	ADDQ $4, R8
	ADDQ $128, DI
	DECQ CX
	JNZ loop
	VZEROUPPER
	RET
