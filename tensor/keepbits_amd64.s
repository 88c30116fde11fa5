//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 bodies of keepbits_amd64.go. Y15 holds each lane's bit (1, 2, 4, …,
// 128); one byte of the mask covers eight lanes.

DATA ·laneBits<>+0(SB)/4, $0x01
DATA ·laneBits<>+4(SB)/4, $0x02
DATA ·laneBits<>+8(SB)/4, $0x04
DATA ·laneBits<>+12(SB)/4, $0x08
DATA ·laneBits<>+16(SB)/4, $0x10
DATA ·laneBits<>+20(SB)/4, $0x20
DATA ·laneBits<>+24(SB)/4, $0x40
DATA ·laneBits<>+28(SB)/4, $0x80
GLOBL ·laneBits<>(SB), RODATA|NOPTR, $32

DATA ·kb7fff<>+0(SB)/4, $0x00007fff
GLOBL ·kb7fff<>(SB), RODATA|NOPTR, $4
DATA ·kb1<>+0(SB)/4, $0x00000001
GLOBL ·kb1<>(SB), RODATA|NOPTR, $4
DATA ·kbquiet<>+0(SB)/4, $0x00400000
GLOBL ·kbquiet<>(SB), RODATA|NOPTR, $4
DATA ·kbhigh<>+0(SB)/4, $0xffff0000
GLOBL ·kbhigh<>(SB), RODATA|NOPTR, $4
DATA ·kbabs<>+0(SB)/4, $0x7fffffff
GLOBL ·kbabs<>(SB), RODATA|NOPTR, $4
DATA ·kbinf<>+0(SB)/4, $0x7f800000
GLOBL ·kbinf<>(SB), RODATA|NOPTR, $4

// LANEMASK(byte register, scratch X, out Y): every lane of out all ones
// where its bit of the byte is set, else zero.
#define LANEMASK(b, sx, sy, out) \
	VMOVD        b, sx       \
	VPBROADCASTD sx, sy      \
	VPAND        Y15, sy, sy \
	VPCMPEQD     Y15, sy, out

// BF16ROUNDF as in kernels_amd64.s: round to nearest even bfloat16, NaNs
// quieted; needs Y9-Y14 set as there.
#define BF16ROUNDF(in, out, t1, t2) \
	VPSRLD    $16, in, t1        \
	VPAND     Y13, t1, t1        \
	VPADDD    Y14, in, out       \
	VPADDD    t1, out, out       \
	VPAND     Y12, out, out      \
	VPOR      Y9, in, t1         \
	VPAND     Y12, t1, t1        \
	VPAND     Y11, in, t2        \
	VPCMPGTD  Y10, t2, t2        \
	VPBLENDVB t2, t1, out, out

// func keepBitsAVX2(x []float32, bits *byte)
TEXT ·keepBitsAVX2(SB), NOSPLIT, $0-32
	MOVQ    x_base+0(FP), DI
	MOVQ    x_len+8(FP), CX
	MOVQ    bits+24(FP), SI
	VMOVDQU ·laneBits<>(SB), Y15
	SHRQ    $3, CX
	JZ      kbdone

kbloop:
	MOVBLZX (SI), AX
	LANEMASK(AX, X0, Y0, Y1)
	VANDPS  (DI), Y1, Y2
	VMOVUPS Y2, (DI)
	INCQ    SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     kbloop

kbdone:
	VZEROUPPER
	RET

// func keepBitsScaleRoundBF16AVX2(x []float32, bits *byte, a float32)
TEXT ·keepBitsScaleRoundBF16AVX2(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	MOVQ         bits+24(FP), SI
	VBROADCASTSS a+32(FP), Y8
	VMOVDQU      ·laneBits<>(SB), Y15
	VPBROADCASTD ·kb7fff<>(SB), Y14
	VPBROADCASTD ·kb1<>(SB), Y13
	VPBROADCASTD ·kbhigh<>(SB), Y12
	VPBROADCASTD ·kbabs<>(SB), Y11
	VPBROADCASTD ·kbinf<>(SB), Y10
	VPBROADCASTD ·kbquiet<>(SB), Y9
	SHRQ         $3, CX
	JZ           ksdone

ksloop:
	MOVBLZX (SI), AX
	LANEMASK(AX, X0, Y0, Y1)
	VANDPS  (DI), Y1, Y2
	VMULPS  Y8, Y2, Y2
	BF16ROUNDF(Y2, Y3, Y4, Y5)
	VMOVUPS Y3, (DI)
	INCQ    SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     ksloop

ksdone:
	VZEROUPPER
	RET
