//go:build amd64 && gc && !purego

#include "textflag.h"

// func dot2x4AVX2(x0, x1, w *float32, ws, n int, out *[8]float32)
//
// Eight dot products at once, of two vectors x0, x1 with four rows of w
// (ws floats apart), n a positive multiple of 8: each step loads 2+4
// vectors for 8 fused multiply-adds. Accumulator Y(2r+t) holds the eight
// partial sums of x_t · w_r; their totals are stored to out[2r+t].
TEXT ·dot2x4AVX2(SB), NOSPLIT, $0-48
	MOVQ   x0+0(FP), SI
	MOVQ   x1+8(FP), R10
	MOVQ   w+16(FP), DI
	MOVQ   ws+24(FP), R9
	SHLQ   $2, R9
	MOVQ   n+32(FP), CX
	MOVQ   out+40(FP), DX
	LEAQ   (DI)(R9*1), R11
	LEAQ   (R11)(R9*1), R12
	LEAQ   (R12)(R9*1), R13
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   AX, AX
	SHRQ   $3, CX

loop:
	VMOVUPS     (SI)(AX*1), Y8
	VMOVUPS     (R10)(AX*1), Y9
	VMOVUPS     (DI)(AX*1), Y10
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y1
	VMOVUPS     (R11)(AX*1), Y11
	VFMADD231PS Y11, Y8, Y2
	VFMADD231PS Y11, Y9, Y3
	VMOVUPS     (R12)(AX*1), Y12
	VFMADD231PS Y12, Y8, Y4
	VFMADD231PS Y12, Y9, Y5
	VMOVUPS     (R13)(AX*1), Y13
	VFMADD231PS Y13, Y8, Y6
	VFMADD231PS Y13, Y9, Y7
	ADDQ        $32, AX
	DECQ        CX
	JNZ         loop

	// Horizontal sums: after two rounds of VHADDPS, Y0 holds the sums of
	// accumulators 0-3 over lanes 0-3 in its low half and over lanes 4-7 in
	// its high half, Y4 the same for 4-7; adding the halves gives all eight.
	VHADDPS    Y1, Y0, Y0
	VHADDPS    Y3, Y2, Y2
	VHADDPS    Y2, Y0, Y0
	VHADDPS    Y5, Y4, Y4
	VHADDPS    Y7, Y6, Y6
	VHADDPS    Y6, Y4, Y4
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x31, Y4, Y0, Y9
	VADDPS     Y9, Y8, Y0
	VMOVUPS    Y0, (DX)
	VZEROUPPER
	RET

// Lane order that turns dot2x4AVX2's totals (x_t · w_r at 2r+t) into the
// four scores of x0 then the four of x1.
DATA dotPairOrder<>+0(SB)/4, $0
DATA dotPairOrder<>+4(SB)/4, $2
DATA dotPairOrder<>+8(SB)/4, $4
DATA dotPairOrder<>+12(SB)/4, $6
DATA dotPairOrder<>+16(SB)/4, $1
DATA dotPairOrder<>+20(SB)/4, $3
DATA dotPairOrder<>+24(SB)/4, $5
DATA dotPairOrder<>+28(SB)/4, $7
GLOBL dotPairOrder<>(SB), RODATA|NOPTR, $32

// func dot2xNAVX2(x0, x1, w *float32, ws, n, blocks int, p0, p1 *float32)
//
// dot2x4AVX2 over blocks·4 consecutive rows of w: p_t[4b+r] = x_t ·
// w[(4b+r)·ws : (4b+r)·ws+n], n a positive multiple of 8, with the same
// fused multiply-adds and horizontal sums as dot2x4AVX2, so the same
// bits, without a call and a copy per four rows.
TEXT ·dot2xNAVX2(SB), NOSPLIT, $0-64
	MOVQ    x0+0(FP), SI
	MOVQ    x1+8(FP), R10
	MOVQ    w+16(FP), DI
	MOVQ    ws+24(FP), R9
	SHLQ    $2, R9
	MOVQ    n+32(FP), R14
	SHRQ    $3, R14
	MOVQ    blocks+40(FP), BX
	MOVQ    p0+48(FP), DX
	MOVQ    p1+56(FP), R8
	VMOVDQU dotPairOrder<>(SB), Y14

block:
	LEAQ   (DI)(R9*1), R11
	LEAQ   (R11)(R9*1), R12
	LEAQ   (R12)(R9*1), R13
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   AX, AX
	MOVQ   R14, CX

inner:
	VMOVUPS     (SI)(AX*1), Y8
	VMOVUPS     (R10)(AX*1), Y9
	VMOVUPS     (DI)(AX*1), Y10
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y1
	VMOVUPS     (R11)(AX*1), Y11
	VFMADD231PS Y11, Y8, Y2
	VFMADD231PS Y11, Y9, Y3
	VMOVUPS     (R12)(AX*1), Y12
	VFMADD231PS Y12, Y8, Y4
	VFMADD231PS Y12, Y9, Y5
	VMOVUPS     (R13)(AX*1), Y13
	VFMADD231PS Y13, Y8, Y6
	VFMADD231PS Y13, Y9, Y7
	ADDQ        $32, AX
	DECQ        CX
	JNZ         inner

	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VHADDPS      Y5, Y4, Y4
	VHADDPS      Y7, Y6, Y6
	VHADDPS      Y6, Y4, Y4
	VPERM2F128   $0x20, Y4, Y0, Y8
	VPERM2F128   $0x31, Y4, Y0, Y9
	VADDPS       Y9, Y8, Y0
	VPERMPS      Y0, Y14, Y0
	VMOVUPS      X0, (DX)
	VEXTRACTF128 $1, Y0, X1
	VMOVUPS      X1, (R8)
	ADDQ         $16, DX
	ADDQ         $16, R8
	LEAQ         (R13)(R9*1), DI
	DECQ         BX
	JNZ          block
	VZEROUPPER
	RET
