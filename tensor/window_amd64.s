//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·kwabs<>+0(SB)/4, $0x7fffffff
GLOBL ·kwabs<>(SB), RODATA|NOPTR, $4

// func keepWindowAVX2(x []float32, vLo, vHi uint32, rLo, rHi, lo, hi int) (done, newLo, newHi int)
//
// Signed compares (VPCMPGTD) order the magnitudes, which are below 2^31.
// Whether the entries equal to a boundary are kept changes only where
// their running rank reaches lo or hi, so the loop sets, for each
// boundary, a mask of whether they are kept now and the rank up to which
// that holds (lo, hi or never), and per vector adds their number
// (VMOVMSKPS, POPCNT) to the rank: no branch depends on where the
// boundary values fall, which are as good as random (the earlier body
// branched on "any boundary value in this vector", mispredicted for a
// few percent of vectors, and spent half its time there). A vector whose
// boundary values reach past that rank is left to the caller, with the
// counts as they were before it.
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

	// R8 and Y12: the rank up to which the entries equal to vLo keep
	// being kept (all ones) or dropped (zero) as the one of rank rLo is.
	MOVQ         $0x7fffffffffffffff, R8
	XORL         AX, AX
	CMPQ         R11, R14
	JGE          kwLoSet         // rLo ≥ hi: dropped from here on
	MOVQ         R14, R8
	CMPQ         R11, R13
	JLT          kwLoBelow
	MOVL         $-1, AX         // lo ≤ rLo < hi: kept up to hi
	JMP          kwLoSet

kwLoBelow:
	MOVQ R13, R8                 // rLo < lo: dropped up to lo

kwLoSet:
	MOVQ         AX, X12
	VPBROADCASTD X12, Y12

	// R9 and Y13: the same for vHi and rHi.
	MOVQ         $0x7fffffffffffffff, R9
	XORL         AX, AX
	CMPQ         R12, R14
	JGE          kwHiSet
	MOVQ         R14, R9
	CMPQ         R12, R13
	JLT          kwHiBelow
	MOVL         $-1, AX
	JMP          kwHiSet

kwHiBelow:
	MOVQ R13, R9

kwHiSet:
	MOVQ         AX, X13
	VPBROADCASTD X13, Y13
	SHRQ         $3, CX
	JZ           kwDone

kwLoop:
	VMOVDQU   (DI), Y0
	VPAND     Y11, Y0, Y1     // u
	VPCMPGTD  Y8, Y1, Y2      // u > vLo
	VPCMPGTD  Y1, Y9, Y3      // vHi > u
	VPAND     Y2, Y3, Y2      // strictly inside: kept
	VPCMPEQD  Y8, Y1, Y4      // u == vLo
	VPCMPEQD  Y9, Y1, Y5      // u == vHi
	VPANDN    Y5, Y4, Y5      // u == vHi but not vLo (vLo = vHi counts as vLo)
	VMOVMSKPS Y4, AX
	VMOVMSKPS Y5, DX
	POPCNTL   AX, AX
	POPCNTL   DX, DX
	ADDQ      R11, AX         // rLo after this vector
	ADDQ      R12, DX         // rHi after this vector
	CMPQ      AX, R8
	JGT       kwDone          // its vLo entries reach past R8: left to the caller
	CMPQ      DX, R9
	JGT       kwDone
	MOVQ      AX, R11
	MOVQ      DX, R12
	VPAND     Y12, Y4, Y4
	VPAND     Y13, Y5, Y5
	VPOR      Y4, Y2, Y2
	VPOR      Y5, Y2, Y2
	VPAND     Y0, Y2, Y0
	VMOVDQU   Y0, (DI)
	ADDQ      $32, DI
	ADDQ      $8, R10
	DECQ      CX
	JNZ       kwLoop

kwDone:
	MOVQ R10, done+64(FP)
	MOVQ R11, newLo+72(FP)
	MOVQ R12, newHi+80(FP)
	VZEROUPPER
	RET
