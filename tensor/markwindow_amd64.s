//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX-512 body of markwindow_amd64.go: 16 elements a step, their bits
// stored as 16-bit words of over and inside (little-endian, so that
// element j is bit j%64 of word j/64).

DATA ·mwabs<>+0(SB)/4, $0x7fffffff
GLOBL ·mwabs<>(SB), RODATA|NOPTR, $4

// func markWindowAVX512(over, inside *uint64, x *float32, n int, lo, hi uint32)
TEXT ·markWindowAVX512(SB), NOSPLIT, $0-40
	MOVQ         over+0(FP), DI
	MOVQ         inside+8(FP), DX
	MOVQ         x+16(FP), SI
	MOVQ         n+24(FP), CX
	MOVL         lo+32(FP), AX
	VPBROADCASTD AX, Z21
	MOVL         hi+36(FP), AX
	VPBROADCASTD AX, Z20
	VPBROADCASTD ·mwabs<>(SB), Z22
	SHRQ         $4, CX
	JZ           mwDone

mwLoop:
	VPANDD  (SI), Z22, Z1      // magnitude bits
	VPCMPUD $6, Z20, Z1, K1    // above hi (NLE)
	VPCMPUD $5, Z21, Z1, K2    // at least lo (NLT)
	KANDNW  K2, K1, K3         // at least lo and not above hi
	KMOVW   K1, (DI)
	KMOVW   K3, (DX)
	ADDQ    $64, SI
	ADDQ    $2, DI
	ADDQ    $2, DX
	DECQ    CX
	JNZ     mwLoop

mwDone:
	VZEROUPPER
	RET
