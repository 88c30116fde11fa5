//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·kwabs<>+0(SB)/4, $0x7fffffff
GLOBL ·kwabs<>(SB), RODATA|NOPTR, $4

// func keepWindowAVX2(x []float32, vLo, vHi uint32) (done int)
//
// Signed compares (VPCMPGTD) order the magnitudes, which are below 2^31.
TEXT ·keepWindowAVX2(SB), NOSPLIT, $0-40
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	MOVL         vLo+24(FP), AX
	MOVQ         AX, X8
	VPBROADCASTD X8, Y8          // vLo
	MOVL         vHi+28(FP), AX
	MOVQ         AX, X9
	VPBROADCASTD X9, Y9          // vHi
	VPBROADCASTD ·kwabs<>(SB), Y11
	XORQ         R10, R10        // done
	SHRQ         $3, CX
	JZ           kwDone

kwLoop:
	VMOVDQU  (DI), Y0
	VPAND    Y11, Y0, Y1     // u
	VPCMPEQD Y8, Y1, Y4      // u == vLo
	VPCMPEQD Y9, Y1, Y5      // u == vHi
	VPOR     Y4, Y5, Y4
	VPTEST   Y4, Y4
	JNZ      kwDone          // a boundary value: left to the caller
	VPCMPGTD Y8, Y1, Y2      // u > vLo
	VPCMPGTD Y1, Y9, Y3      // vHi > u
	VPAND    Y2, Y3, Y2
	VPAND    Y0, Y2, Y0
	VMOVDQU  Y0, (DI)
	ADDQ     $32, DI
	ADDQ     $8, R10
	DECQ     CX
	JNZ      kwLoop

kwDone:
	MOVQ R10, done+32(FP)
	VZEROUPPER
	RET
