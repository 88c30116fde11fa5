//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 body of keepbitsscale_amd64.go. Y15 holds each lane's bit (1, 2, 4,
// …, 128); one byte of the mask covers eight lanes.

DATA ·ksLaneBits<>+0(SB)/4, $0x01
DATA ·ksLaneBits<>+4(SB)/4, $0x02
DATA ·ksLaneBits<>+8(SB)/4, $0x04
DATA ·ksLaneBits<>+12(SB)/4, $0x08
DATA ·ksLaneBits<>+16(SB)/4, $0x10
DATA ·ksLaneBits<>+20(SB)/4, $0x20
DATA ·ksLaneBits<>+24(SB)/4, $0x40
DATA ·ksLaneBits<>+28(SB)/4, $0x80
GLOBL ·ksLaneBits<>(SB), RODATA|NOPTR, $32

DATA ·ks7fff<>+0(SB)/4, $0x00007fff
GLOBL ·ks7fff<>(SB), RODATA|NOPTR, $4
DATA ·ks1<>+0(SB)/4, $0x00000001
GLOBL ·ks1<>(SB), RODATA|NOPTR, $4
DATA ·ksquiet<>+0(SB)/4, $0x00400000
GLOBL ·ksquiet<>(SB), RODATA|NOPTR, $4
DATA ·kshigh<>+0(SB)/4, $0xffff0000
GLOBL ·kshigh<>(SB), RODATA|NOPTR, $4
DATA ·ksabs<>+0(SB)/4, $0x7fffffff
GLOBL ·ksabs<>(SB), RODATA|NOPTR, $4
DATA ·ksinf<>+0(SB)/4, $0x7f800000
GLOBL ·ksinf<>(SB), RODATA|NOPTR, $4

// LANEMASK(byte register, scratch X, out Y): every lane of out all ones
// where its bit of the byte is set, else zero.
#define LANEMASK(b, sx, sy, out) \
	VMOVD        b, sx       \
	VPBROADCASTD sx, sy      \
	VPAND        Y15, sy, sy \
	VPCMPEQD     Y15, sy, out

#include "bf16round_amd64.h"

// func keepBitsScaleRoundBF16AVX2(x []float32, mask *byte, a float32)
TEXT ·keepBitsScaleRoundBF16AVX2(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	MOVQ         mask+24(FP), SI
	VBROADCASTSS a+32(FP), Y8
	VMOVDQU      ·ksLaneBits<>(SB), Y15
	VPBROADCASTD ·ks7fff<>(SB), Y14
	VPBROADCASTD ·ks1<>(SB), Y13
	VPBROADCASTD ·kshigh<>(SB), Y12
	VPBROADCASTD ·ksabs<>(SB), Y11
	VPBROADCASTD ·ksinf<>(SB), Y10
	VPBROADCASTD ·ksquiet<>(SB), Y9
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
