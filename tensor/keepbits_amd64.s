//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·kbits<>+0(SB)/4, $1
DATA ·kbits<>+4(SB)/4, $2
DATA ·kbits<>+8(SB)/4, $4
DATA ·kbits<>+12(SB)/4, $8
DATA ·kbits<>+16(SB)/4, $16
DATA ·kbits<>+20(SB)/4, $32
DATA ·kbits<>+24(SB)/4, $64
DATA ·kbits<>+28(SB)/4, $128
GLOBL ·kbits<>(SB), RODATA|NOPTR, $32

// func keepBitsAVX2(x []float32, mask []byte)
TEXT ·keepBitsAVX2(SB), NOSPLIT, $0-48
	MOVQ    x_base+0(FP), DI
	MOVQ    x_len+8(FP), CX
	MOVQ    mask_base+24(FP), SI
	VMOVDQU ·kbits<>(SB), Y8
	SHRQ    $3, CX
	JZ      kbdone

kbloop:
	MOVBLZX      (SI), AX
	VMOVD        AX, X0
	VPBROADCASTD X0, Y0
	VPAND        Y8, Y0, Y0
	VPCMPEQD     Y8, Y0, Y0 // all ones where the lane's bit is set
	VPAND        (DI), Y0, Y0
	VMOVDQU      Y0, (DI)
	INCQ         SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          kbloop

kbdone:
	VZEROUPPER
	RET
