//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·mabs<>+0(SB)/4, $0x7fffffff
GLOBL ·mabs<>(SB), RODATA|NOPTR, $4

// func markAboveAVX2(mask []byte, x []float32, thr uint32)
TEXT ·markAboveAVX2(SB), NOSPLIT, $0-52
	MOVQ         mask_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	MOVL         thr+48(FP), AX
	VMOVD        AX, X8
	VPBROADCASTD X8, Y8
	VPBROADCASTD ·mabs<>(SB), Y9
	SHRQ         $3, CX
	JZ           madone

maloop:
	VPAND     (SI), Y9, Y0
	VPCMPGTD  Y8, Y0, Y0 // magnitude > thr
	VMOVMSKPS Y0, AX
	MOVB      AL, (DI)
	ADDQ      $32, SI
	INCQ      DI
	DECQ      CX
	JNZ       maloop

madone:
	VZEROUPPER
	RET
