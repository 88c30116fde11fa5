//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 bodies of rounddots_amd64.go.

DATA ·rd7fff<>+0(SB)/4, $0x00007fff
GLOBL ·rd7fff<>(SB), RODATA|NOPTR, $4
DATA ·rd1<>+0(SB)/4, $0x00000001
GLOBL ·rd1<>(SB), RODATA|NOPTR, $4
DATA ·rdquiet<>+0(SB)/4, $0x00400000
GLOBL ·rdquiet<>(SB), RODATA|NOPTR, $4
DATA ·rdhigh<>+0(SB)/4, $0xffff0000
GLOBL ·rdhigh<>(SB), RODATA|NOPTR, $4
DATA ·rdabs<>+0(SB)/4, $0x7fffffff
GLOBL ·rdabs<>(SB), RODATA|NOPTR, $4
DATA ·rdinf<>+0(SB)/4, $0x7f800000
GLOBL ·rdinf<>(SB), RODATA|NOPTR, $4

#include "bf16round_amd64.h"

// func mulWidenBF16AVX2(dst []float64, x, y *float32)
TEXT ·mulWidenBF16AVX2(SB), NOSPLIT, $0-40
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x+24(FP), SI
	MOVQ         y+32(FP), DX
	VPBROADCASTD ·rd7fff<>(SB), Y14
	VPBROADCASTD ·rd1<>(SB), Y13
	VPBROADCASTD ·rdhigh<>(SB), Y12
	VPBROADCASTD ·rdabs<>(SB), Y11
	VPBROADCASTD ·rdinf<>(SB), Y10
	VPBROADCASTD ·rdquiet<>(SB), Y9
	SHRQ         $3, CX
	JZ           mwdone

mwloop:
	VMOVUPS      (SI), Y0
	VMULPS       (DX), Y0, Y0 // x·y
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VCVTPS2PD    X1, Y2
	VEXTRACTF128 $1, Y1, X3
	VCVTPS2PD    X3, Y3
	VMOVUPD      Y2, (DI)
	VMOVUPD      Y3, 32(DI)
	ADDQ         $32, SI
	ADDQ         $32, DX
	ADDQ         $64, DI
	DECQ         CX
	JNZ          mwloop

mwdone:
	VZEROUPPER
	RET

// Row r of the buffer starts r·2048 bytes (dotsBlock float64s) after
// row 0. X0 … X11 hold the sums of rows 0 … 11.
// func addRows4AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)
TEXT ·addRows4AVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ buf+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVSD 0(DI), X0
	VMOVSD 8(DI), X1
	VMOVSD 16(DI), X2
	VMOVSD 24(DI), X3
	TESTQ CX, CX
	JZ    ar4done

ar4loop:
	VADDSD 0(SI), X0, X0
	VADDSD 2048(SI), X1, X1
	VADDSD 4096(SI), X2, X2
	VADDSD 6144(SI), X3, X3
	ADDQ   $8, SI
	DECQ   CX
	JNZ    ar4loop

ar4done:
	VMOVSD X0, 0(DI)
	VMOVSD X1, 8(DI)
	VMOVSD X2, 16(DI)
	VMOVSD X3, 24(DI)
	RET

// func addRows6AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)
TEXT ·addRows6AVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ buf+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVSD 0(DI), X0
	VMOVSD 8(DI), X1
	VMOVSD 16(DI), X2
	VMOVSD 24(DI), X3
	VMOVSD 32(DI), X4
	VMOVSD 40(DI), X5
	TESTQ CX, CX
	JZ    ar6done

ar6loop:
	VADDSD 0(SI), X0, X0
	VADDSD 2048(SI), X1, X1
	VADDSD 4096(SI), X2, X2
	VADDSD 6144(SI), X3, X3
	VADDSD 8192(SI), X4, X4
	VADDSD 10240(SI), X5, X5
	ADDQ   $8, SI
	DECQ   CX
	JNZ    ar6loop

ar6done:
	VMOVSD X0, 0(DI)
	VMOVSD X1, 8(DI)
	VMOVSD X2, 16(DI)
	VMOVSD X3, 24(DI)
	VMOVSD X4, 32(DI)
	VMOVSD X5, 40(DI)
	RET

// func addRows8AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)
TEXT ·addRows8AVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ buf+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVSD 0(DI), X0
	VMOVSD 8(DI), X1
	VMOVSD 16(DI), X2
	VMOVSD 24(DI), X3
	VMOVSD 32(DI), X4
	VMOVSD 40(DI), X5
	VMOVSD 48(DI), X6
	VMOVSD 56(DI), X7
	TESTQ CX, CX
	JZ    ar8done

ar8loop:
	VADDSD 0(SI), X0, X0
	VADDSD 2048(SI), X1, X1
	VADDSD 4096(SI), X2, X2
	VADDSD 6144(SI), X3, X3
	VADDSD 8192(SI), X4, X4
	VADDSD 10240(SI), X5, X5
	VADDSD 12288(SI), X6, X6
	VADDSD 14336(SI), X7, X7
	ADDQ   $8, SI
	DECQ   CX
	JNZ    ar8loop

ar8done:
	VMOVSD X0, 0(DI)
	VMOVSD X1, 8(DI)
	VMOVSD X2, 16(DI)
	VMOVSD X3, 24(DI)
	VMOVSD X4, 32(DI)
	VMOVSD X5, 40(DI)
	VMOVSD X6, 48(DI)
	VMOVSD X7, 56(DI)
	RET

// func addRows10AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)
TEXT ·addRows10AVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ buf+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVSD 0(DI), X0
	VMOVSD 8(DI), X1
	VMOVSD 16(DI), X2
	VMOVSD 24(DI), X3
	VMOVSD 32(DI), X4
	VMOVSD 40(DI), X5
	VMOVSD 48(DI), X6
	VMOVSD 56(DI), X7
	VMOVSD 64(DI), X8
	VMOVSD 72(DI), X9
	TESTQ CX, CX
	JZ    ar10done

ar10loop:
	VADDSD 0(SI), X0, X0
	VADDSD 2048(SI), X1, X1
	VADDSD 4096(SI), X2, X2
	VADDSD 6144(SI), X3, X3
	VADDSD 8192(SI), X4, X4
	VADDSD 10240(SI), X5, X5
	VADDSD 12288(SI), X6, X6
	VADDSD 14336(SI), X7, X7
	VADDSD 16384(SI), X8, X8
	VADDSD 18432(SI), X9, X9
	ADDQ   $8, SI
	DECQ   CX
	JNZ    ar10loop

ar10done:
	VMOVSD X0, 0(DI)
	VMOVSD X1, 8(DI)
	VMOVSD X2, 16(DI)
	VMOVSD X3, 24(DI)
	VMOVSD X4, 32(DI)
	VMOVSD X5, 40(DI)
	VMOVSD X6, 48(DI)
	VMOVSD X7, 56(DI)
	VMOVSD X8, 64(DI)
	VMOVSD X9, 72(DI)
	RET

// func addRows12AVX2(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, n int)
TEXT ·addRows12AVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ buf+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVSD 0(DI), X0
	VMOVSD 8(DI), X1
	VMOVSD 16(DI), X2
	VMOVSD 24(DI), X3
	VMOVSD 32(DI), X4
	VMOVSD 40(DI), X5
	VMOVSD 48(DI), X6
	VMOVSD 56(DI), X7
	VMOVSD 64(DI), X8
	VMOVSD 72(DI), X9
	VMOVSD 80(DI), X10
	VMOVSD 88(DI), X11
	TESTQ CX, CX
	JZ    ar12done

ar12loop:
	VADDSD 0(SI), X0, X0
	VADDSD 2048(SI), X1, X1
	VADDSD 4096(SI), X2, X2
	VADDSD 6144(SI), X3, X3
	VADDSD 8192(SI), X4, X4
	VADDSD 10240(SI), X5, X5
	VADDSD 12288(SI), X6, X6
	VADDSD 14336(SI), X7, X7
	VADDSD 16384(SI), X8, X8
	VADDSD 18432(SI), X9, X9
	VADDSD 20480(SI), X10, X10
	VADDSD 22528(SI), X11, X11
	ADDQ   $8, SI
	DECQ   CX
	JNZ    ar12loop

ar12done:
	VMOVSD X0, 0(DI)
	VMOVSD X1, 8(DI)
	VMOVSD X2, 16(DI)
	VMOVSD X3, 24(DI)
	VMOVSD X4, 32(DI)
	VMOVSD X5, 40(DI)
	VMOVSD X6, 48(DI)
	VMOVSD X7, 56(DI)
	VMOVSD X8, 64(DI)
	VMOVSD X9, 72(DI)
	VMOVSD X10, 80(DI)
	VMOVSD X11, 88(DI)
	RET
