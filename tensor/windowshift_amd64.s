//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·wsabs<>+0(SB)/4, $0x7fffffff
GLOBL ·wsabs<>(SB), RODATA|NOPTR, $4

// func countAboveWindowShiftAVX2(hist []uint32, x []float32, lo, hi uint32, shift uint) int
//
// countAboveWindowAVX2's loop (see its comment in kernels_amd64.s): per
// vector of magnitudes u, u > hi is subtracted from 32-bit counts and the
// lanes inside the window are packed to the front (VPERMD by windowPack)
// and stored to a buffer on the stack, with no branch on the data; after
// every 2048 elements a scalar loop increments hist[(u-lo)>>shift] for the
// buffered u.
TEXT ·countAboveWindowShiftAVX2(SB), 0, $8256-72
	MOVQ         hist_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), R9
	MOVL         lo+48(FP), R8
	MOVL         hi+52(FP), AX
	MOVQ         shift+56(FP), CX
	MOVQ         AX, X9
	VPBROADCASTD X9, Y9           // hi
	MOVQ         R8, X10
	VPBROADCASTD X10, Y10         // lo
	VPBROADCASTD ·wsabs<>(SB), Y11
	VPXOR        Y4, Y4, Y4
	VPXOR        Y5, Y5, Y5
	LEAQ         ·windowPack(SB), R13
	LEAQ         ·windowIn(SB), R14
	TESTQ        R9, R9
	JZ           wsSum

wsChunk:
	MOVQ    $2048, R10
	CMPQ    R9, R10
	CMOVQLT R9, R10           // this chunk's length, a multiple of 8
	SUBQ    R10, R9
	XORQ    R12, R12          // buffered window elements
	MOVQ    R10, BX
	SHRQ    $4, BX
	JZ      wsOne

wsLoop:
	VPAND     (SI), Y11, Y0
	VPAND     32(SI), Y11, Y1
	VPCMPGTD  Y9, Y0, Y2          // u0 > hi
	VPCMPGTD  Y9, Y1, Y3          // u1 > hi
	VPSUBD    Y2, Y4, Y4
	VPSUBD    Y3, Y5, Y5
	VPCMPGTD  Y0, Y10, Y6         // lo > u0
	VPCMPGTD  Y1, Y10, Y7         // lo > u1
	VPOR      Y6, Y2, Y2          // outside, first vector
	VPOR      Y7, Y3, Y3          // outside, second vector
	VMOVMSKPS Y2, AX
	VMOVMSKPS Y3, DX
	VPMOVZXBD (R13)(AX*8), Y6
	VPMOVZXBD (R13)(DX*8), Y7
	VPERMD    Y0, Y6, Y0
	VPERMD    Y1, Y7, Y1
	MOVBQZX   (R14)(AX*1), AX
	MOVBQZX   (R14)(DX*1), DX
	VMOVDQU   Y0, (SP)(R12*4)
	ADDQ      AX, R12
	VMOVDQU   Y1, (SP)(R12*4)
	ADDQ      DX, R12
	ADDQ      $64, SI
	DECQ      BX
	JNZ       wsLoop

wsOne:
	TESTQ     $8, R10
	JZ        wsFlush
	VPAND     (SI), Y11, Y0
	VPCMPGTD  Y9, Y0, Y2
	VPSUBD    Y2, Y4, Y4
	VPCMPGTD  Y0, Y10, Y6
	VPOR      Y6, Y2, Y2
	VMOVMSKPS Y2, AX
	VPMOVZXBD (R13)(AX*8), Y6
	VPERMD    Y0, Y6, Y0
	MOVBQZX   (R14)(AX*1), AX
	VMOVDQU   Y0, (SP)(R12*4)
	ADDQ      AX, R12
	ADDQ      $32, SI

wsFlush:
	TESTQ R12, R12
	JZ    wsNext
	XORQ  BX, BX

wsScatter:
	MOVL (SP)(BX*4), AX
	SUBL R8, AX
	SHRL CX, AX
	INCL (DI)(AX*4)
	INCQ BX
	CMPQ BX, R12
	JNE  wsScatter

wsNext:
	TESTQ R9, R9
	JNZ   wsChunk

wsSum:
	VPADDD       Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	VMOVD        X4, AX
	MOVQ         AX, ret+64(FP)
	VZEROUPPER
	RET
