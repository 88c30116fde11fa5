//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 bodies of Variance's steps (variance_amd64.go), four float64 lanes
// at a time; lengths are multiples of 4. The operands are in the order of
// the gc compiler's SSE code for the references (acc + x, x − mean,
// ss + d·d), so that NaN payloads agree too.

// func addWidenAVX2(acc []float64, x []float32)
TEXT ·addWidenAVX2(SB), NOSPLIT, $0-48
	MOVQ acc_base+0(FP), DI
	MOVQ acc_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	SHRQ $2, CX
	JZ   awdone

awloop:
	VCVTPS2PD (SI), Y0
	VMOVUPD   (DI), Y1
	VADDPD    Y0, Y1, Y1
	VMOVUPD   Y1, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       awloop

awdone:
	VZEROUPPER
	RET

// func divF64AVX2(x []float64, d float64)
TEXT ·divF64AVX2(SB), NOSPLIT, $0-32
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSD d+24(FP), Y8
	SHRQ         $2, CX
	JZ           dfdone

dfloop:
	VMOVUPD (DI), Y0
	VDIVPD  Y8, Y0, Y0
	VMOVUPD Y0, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     dfloop

dfdone:
	VZEROUPPER
	RET

// func addSquaredDiffAVX2(ss, mean []float64, x []float32)
TEXT ·addSquaredDiffAVX2(SB), NOSPLIT, $0-72
	MOVQ ss_base+0(FP), DI
	MOVQ ss_len+8(FP), CX
	MOVQ mean_base+24(FP), DX
	MOVQ x_base+48(FP), SI
	SHRQ $2, CX
	JZ   sddone

sdloop:
	VCVTPS2PD (SI), Y0
	VMOVUPD   (DX), Y1
	VSUBPD    Y1, Y0, Y0 // x − mean
	VMULPD    Y0, Y0, Y0
	VMOVUPD   (DI), Y2
	VADDPD    Y0, Y2, Y2 // ss + d·d
	VMOVUPD   Y2, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DX
	ADDQ      $32, DI
	DECQ      CX
	JNZ       sdloop

sddone:
	VZEROUPPER
	RET

// func narrowDivAVX2(dst []float32, ss []float64, d float64)
TEXT ·narrowDivAVX2(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         ss_base+24(FP), SI
	VBROADCASTSD d+48(FP), Y8
	SHRQ         $2, CX
	JZ           nddone

ndloop:
	VMOVUPD    (SI), Y0
	VDIVPD     Y8, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $32, SI
	ADDQ       $16, DI
	DECQ       CX
	JNZ        ndloop

nddone:
	VZEROUPPER
	RET
