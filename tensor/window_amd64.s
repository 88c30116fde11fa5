//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·kwabs<>+0(SB)/4, $0x7fffffff
GLOBL ·kwabs<>(SB), RODATA|NOPTR, $4

// func keepWindowAVX2(x []float32, vLo, vHi uint32, rLo, rHi, lo, hi int) (done, newLo, newHi int)
//
// Signed compares (VPCMPGTD) order the magnitudes, which are below 2^31. A
// vector holding boundary values counts them (VMOVMSKPS, POPCNT) and keeps
// or drops all of those equal to one boundary when their ranks lie all in
// or all out of [lo, hi); the vector where the ranks cross lo or hi is
// left to the caller, with the counts as they were before it.
TEXT ·keepWindowAVX2(SB), NOSPLIT, $0-88
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	MOVL         vLo+24(FP), AX
	MOVQ         AX, X8
	VPBROADCASTD X8, Y8          // vLo
	MOVL         vHi+28(FP), AX
	MOVQ         AX, X9
	VPBROADCASTD X9, Y9          // vHi
	VPBROADCASTD ·kwabs<>(SB), Y11
	MOVQ         rLo+32(FP), R11
	MOVQ         rHi+40(FP), R12
	MOVQ         lo+48(FP), R13
	MOVQ         hi+56(FP), R14
	XORQ         R10, R10        // done
	SHRQ         $3, CX
	JZ           kwDone

kwLoop:
	VMOVDQU  (DI), Y0
	VPAND    Y11, Y0, Y1     // u
	VPCMPGTD Y8, Y1, Y2      // u > vLo
	VPCMPGTD Y1, Y9, Y3      // vHi > u
	VPAND    Y2, Y3, Y2      // strictly inside: kept
	VPCMPEQD Y8, Y1, Y4      // u == vLo
	VPCMPEQD Y9, Y1, Y5      // u == vHi
	VPOR     Y4, Y5, Y6
	VPTEST   Y6, Y6
	JNZ      kwTies

kwStore:
	VPAND   Y0, Y2, Y0
	VMOVDQU Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $8, R10
	DECQ    CX
	JNZ     kwLoop
	JMP     kwDone

kwTies:
	VPANDN    Y5, Y4, Y5     // u == vHi but not vLo (vLo = vHi counts as vLo)
	MOVQ      R11, SI        // rLo after this vector
	VMOVMSKPS Y4, AX
	POPCNTL   AX, AX
	TESTQ     AX, AX
	JZ        kwHi
	ADDQ      AX, SI
	CMPQ      R11, R13
	JLT       kwLoNotAll     // rLo < lo
	CMPQ      SI, R14
	JGT       kwLoNotAll     // rLo + count > hi
	VPOR      Y4, Y2, Y2     // every one in [lo, hi)
	JMP       kwHi

kwLoNotAll:
	CMPQ SI, R13
	JLE  kwHi                // every one below lo: dropped
	CMPQ R11, R14
	JGE  kwHi                // every one at hi or above: dropped
	JMP  kwDone              // crossing lo or hi: left to the caller

kwHi:
	MOVQ      R12, DX        // rHi after this vector
	VMOVMSKPS Y5, AX
	POPCNTL   AX, AX
	TESTQ     AX, AX
	JZ        kwCommit
	ADDQ      AX, DX
	CMPQ      R12, R13
	JLT       kwHiNotAll
	CMPQ      DX, R14
	JGT       kwHiNotAll
	VPOR      Y5, Y2, Y2
	JMP       kwCommit

kwHiNotAll:
	CMPQ DX, R13
	JLE  kwCommit
	CMPQ R12, R14
	JGE  kwCommit
	JMP  kwDone

kwCommit:
	MOVQ SI, R11
	MOVQ DX, R12
	JMP  kwStore

kwDone:
	MOVQ R10, done+64(FP)
	MOVQ R11, newLo+72(FP)
	MOVQ R12, newHi+80(FP)
	VZEROUPPER
	RET
