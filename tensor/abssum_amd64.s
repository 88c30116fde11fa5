//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·asabs<>+0(SB)/8, $0x7fffffffffffffff
GLOBL ·asabs<>(SB), RODATA|NOPTR, $8

// func sumAbsLanesAVX2(x []float32, lanes *[16]float64)
TEXT ·sumAbsLanesAVX2(SB), NOSPLIT, $0-32
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	MOVQ         lanes+24(FP), DI
	VBROADCASTSD ·asabs<>(SB), Y12
	VMOVUPD      (DI), Y8
	VMOVUPD      32(DI), Y9
	VMOVUPD      64(DI), Y10
	VMOVUPD      96(DI), Y11
	SHRQ         $4, CX
	JZ           asDone

asLoop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD 32(SI), Y2
	VCVTPS2PD 48(SI), Y3
	VANDPD    Y12, Y0, Y0
	VANDPD    Y12, Y1, Y1
	VANDPD    Y12, Y2, Y2
	VANDPD    Y12, Y3, Y3
	VADDPD    Y0, Y8, Y8
	VADDPD    Y1, Y9, Y9
	VADDPD    Y2, Y10, Y10
	VADDPD    Y3, Y11, Y11
	ADDQ      $64, SI
	DECQ      CX
	JNZ       asLoop

asDone:
	VMOVUPD Y8, (DI)
	VMOVUPD Y9, 32(DI)
	VMOVUPD Y10, 64(DI)
	VMOVUPD Y11, 96(DI)
	VZEROUPPER
	RET
