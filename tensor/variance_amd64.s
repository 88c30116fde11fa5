//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 body of Variance (variance_amd64.go), four float64 lanes at a
// time, every input's values for them read in turn; lengths are multiples
// of 4. The operands are in the order of the reference loop (mean + x,
// x − mean, ss + d·d).

// With mul set, m is 1/m' for m' a power of two and each division by m'
// is a multiplication by m: the same correctly rounded quotients.

// func varianceAVX2(dst []float32, xs [][]float32, off int, m float64, mul bool)
TEXT ·varianceAVX2(SB), NOSPLIT, $0-65
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         xs_base+24(FP), R9
	MOVQ         xs_len+32(FP), R10
	MOVQ         off+48(FP), AX
	SHLQ         $2, AX             // byte offset into every input
	VBROADCASTSD m+56(FP), Y8
	MOVBQZX      mul+64(FP), BX
	SHRQ         $2, CX
	JZ           vadone

valoop:
	VXORPD Y0, Y0, Y0 // mean
	MOVQ   R9, R11
	MOVQ   R10, R12

vamean:
	MOVQ      (R11), SI // xs[i]'s data
	VCVTPS2PD (SI)(AX*1), Y1
	VADDPD    Y1, Y0, Y0 // mean + x
	ADDQ      $24, R11
	DECQ      R12
	JNZ       vamean
	TESTQ     BX, BX
	JNZ       vamulmean
	VDIVPD    Y8, Y0, Y0
	JMP       vassstart

vamulmean:
	VMULPD Y8, Y0, Y0

vassstart:
	VXORPD    Y2, Y2, Y2 // ss
	MOVQ      R9, R11
	MOVQ      R10, R12

vass:
	MOVQ      (R11), SI
	VCVTPS2PD (SI)(AX*1), Y1
	VSUBPD    Y0, Y1, Y1 // x − mean
	VMULPD    Y1, Y1, Y1
	VADDPD    Y1, Y2, Y2 // ss + d·d
	ADDQ      $24, R11
	DECQ      R12
	JNZ       vass
	TESTQ     BX, BX
	JNZ       vamulss
	VDIVPD    Y8, Y2, Y2
	JMP       vastore

vamulss:
	VMULPD Y8, Y2, Y2

vastore:
	VCVTPD2PSY Y2, X2
	VMOVUPS   X2, (DI)
	ADDQ      $16, DI
	ADDQ      $16, AX
	DECQ      CX
	JNZ       valoop

vadone:
	VZEROUPPER
	RET
