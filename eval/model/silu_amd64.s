//go:build amd64 && gc && !purego

#include "textflag.h"

DATA siluOne<>+0(SB)/4, $0x3f800000
GLOBL siluOne<>(SB), RODATA|NOPTR, $4

// func siluMulAVX2(x, u, e *float32, n int)
// x[i] = (x[i] < 0 ? x[i]*e[i] : x[i]) / (1 + e[i]) * u[i] for i < n, n a
// multiple of 8: siluMulGeneric's operations, each rounded as there.
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ u+8(FP), SI
	MOVQ e+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS siluOne<>(SB), Y7
	VXORPS Y6, Y6, Y6
	SHRQ $3, CX
	JZ done

loop:
	VMOVUPS (DI), Y0              // x
	VMOVUPS (DX), Y1              // e
	VMULPS Y1, Y0, Y2             // x*e
	VCMPPS $1, Y6, Y0, Y3         // x < 0 (ordered: false for NaN)
	VBLENDVPS Y3, Y2, Y0, Y4      // x < 0 ? x*e : x
	VADDPS Y7, Y1, Y5             // 1 + e
	VDIVPS Y5, Y4, Y4
	VMULPS (SI), Y4, Y4
	VMOVUPS Y4, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ loop

done:
	VZEROUPPER
	RET
