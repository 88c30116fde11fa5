//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 bodies of squaresfrom_amd64.go. Row r of the buffer starts r·2048
// bytes (dotsBlock float64s) after row 0; Y(2r) and Y(2r+1) hold sums 0 … 3
// and 4 … 7 of row r.

DATA ·sfabs<>+0(SB)/4, $0x7fffffff
GLOBL ·sfabs<>(SB), RODATA|NOPTR, $4
DATA ·sfones<>+0(SB)/4, $0xffffffff
GLOBL ·sfones<>(SB), RODATA|NOPTR, $4

// func addRowsFrom2AVX2(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)
TEXT ·addRowsFrom2AVX2(SB), NOSPLIT, $0-40
	MOVQ         acc+0(FP), AX
	MOVQ         buf+8(FP), DI
	MOVQ         v+16(FP), SI
	MOVQ         n+24(FP), CX
	MOVQ         gt+32(FP), DX
	VMOVDQU      (DX), Y10
	VPBROADCASTD ·sfabs<>(SB), Y14
	VMOVUPD 0(AX), Y0
	VMOVUPD 32(AX), Y1
	VMOVUPD 64(AX), Y2
	VMOVUPD 96(AX), Y3
	TESTQ        CX, CX
	JZ           arf2done

arf2loop:
	VPBROADCASTD (SI), Y13
	VPAND        Y14, Y13, Y13
	VPCMPGTD     Y10, Y13, Y13 // |v[j]| > gt[s], s = 0 … 7
	VPMOVSXDQ    X13, Y8
	VEXTRACTI128 $1, Y13, X9
	VPMOVSXDQ    X9, Y9
	VBROADCASTSD 0(DI), Y11
	VANDPD       Y8, Y11, Y12
	VADDPD       Y12, Y0, Y0
	VANDPD       Y9, Y11, Y11
	VADDPD       Y11, Y1, Y1
	VBROADCASTSD 2048(DI), Y11
	VANDPD       Y8, Y11, Y12
	VADDPD       Y12, Y2, Y2
	VANDPD       Y9, Y11, Y11
	VADDPD       Y11, Y3, Y3
	ADDQ         $4, SI
	ADDQ         $8, DI
	DECQ         CX
	JNZ          arf2loop

arf2done:
	VMOVUPD Y0, 0(AX)
	VMOVUPD Y1, 32(AX)
	VMOVUPD Y2, 64(AX)
	VMOVUPD Y3, 96(AX)
	VZEROUPPER
	RET

// func addRowsFrom4AVX2(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)
TEXT ·addRowsFrom4AVX2(SB), NOSPLIT, $0-40
	MOVQ         acc+0(FP), AX
	MOVQ         buf+8(FP), DI
	MOVQ         v+16(FP), SI
	MOVQ         n+24(FP), CX
	MOVQ         gt+32(FP), DX
	VMOVDQU      (DX), Y10
	VPBROADCASTD ·sfabs<>(SB), Y14
	VMOVUPD 0(AX), Y0
	VMOVUPD 32(AX), Y1
	VMOVUPD 64(AX), Y2
	VMOVUPD 96(AX), Y3
	VMOVUPD 128(AX), Y4
	VMOVUPD 160(AX), Y5
	VMOVUPD 192(AX), Y6
	VMOVUPD 224(AX), Y7
	TESTQ        CX, CX
	JZ           arf4done

arf4loop:
	VPBROADCASTD (SI), Y13
	VPAND        Y14, Y13, Y13
	VPCMPGTD     Y10, Y13, Y13 // |v[j]| > gt[s], s = 0 … 7
	VPMOVSXDQ    X13, Y8
	VEXTRACTI128 $1, Y13, X9
	VPMOVSXDQ    X9, Y9
	VBROADCASTSD 0(DI), Y11
	VANDPD       Y8, Y11, Y12
	VADDPD       Y12, Y0, Y0
	VANDPD       Y9, Y11, Y11
	VADDPD       Y11, Y1, Y1
	VBROADCASTSD 2048(DI), Y11
	VANDPD       Y8, Y11, Y12
	VADDPD       Y12, Y2, Y2
	VANDPD       Y9, Y11, Y11
	VADDPD       Y11, Y3, Y3
	VBROADCASTSD 4096(DI), Y11
	VANDPD       Y8, Y11, Y12
	VADDPD       Y12, Y4, Y4
	VANDPD       Y9, Y11, Y11
	VADDPD       Y11, Y5, Y5
	VBROADCASTSD 6144(DI), Y11
	VANDPD       Y8, Y11, Y12
	VADDPD       Y12, Y6, Y6
	VANDPD       Y9, Y11, Y11
	VADDPD       Y11, Y7, Y7
	ADDQ         $4, SI
	ADDQ         $8, DI
	DECQ         CX
	JNZ          arf4loop

arf4done:
	VMOVUPD Y0, 0(AX)
	VMOVUPD Y1, 32(AX)
	VMOVUPD Y2, 64(AX)
	VMOVUPD Y3, 96(AX)
	VMOVUPD Y4, 128(AX)
	VMOVUPD Y5, 160(AX)
	VMOVUPD Y6, 192(AX)
	VMOVUPD Y7, 224(AX)
	VZEROUPPER
	RET

// func minMagnitudeAVX2(x []float32, m uint32) uint32
TEXT ·minMagnitudeAVX2(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	MOVL         m+24(FP), AX
	VMOVD        AX, X0
	VPBROADCASTD X0, Y0
	VPBROADCASTD ·sfabs<>(SB), Y14
	VPBROADCASTD ·sfones<>(SB), Y13
	SHRQ         $3, CX
	JZ           mmdone

mmloop:
	VPAND        (SI), Y14, Y1
	VPADDD       Y13, Y1, Y1 // u−1: ±0 wraps to the largest
	VPMINUD      Y1, Y0, Y0
	ADDQ         $32, SI
	DECQ         CX
	JNZ          mmloop

mmdone:
	VEXTRACTI128 $1, Y0, X1
	VPMINUD      X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPMINUD      X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPMINUD      X1, X0, X0
	VMOVD        X0, AX
	MOVL         AX, ret+32(FP)
	VZEROUPPER
	RET

// func addRowsFrom2AVX512(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)
TEXT ·addRowsFrom2AVX512(SB), NOSPLIT, $0-40
	MOVQ         acc+0(FP), AX
	MOVQ         buf+8(FP), DI
	MOVQ         v+16(FP), SI
	MOVQ         n+24(FP), CX
	MOVQ         gt+32(FP), DX
	VMOVDQU      (DX), Y10
	VPBROADCASTD ·sfabs<>(SB), Y14
	VMOVUPD 0(AX), Z0
	VMOVUPD 64(AX), Z1
	TESTQ        CX, CX
	JZ           arfz2done

arfz2loop:
	VPBROADCASTD (SI), Y13
	VPAND        Y14, Y13, Y13
	VPCMPGTD     Y10, Y13, K1 // |v[j]| > gt[s], s = 0 … 7
	VADDPD.BCST  0(DI), Z0, K1, Z0
	VADDPD.BCST  2048(DI), Z1, K1, Z1
	ADDQ         $4, SI
	ADDQ         $8, DI
	DECQ         CX
	JNZ          arfz2loop

arfz2done:
	VMOVUPD Z0, 0(AX)
	VMOVUPD Z1, 64(AX)
	VZEROUPPER
	RET

// func addRowsFrom4AVX512(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)
TEXT ·addRowsFrom4AVX512(SB), NOSPLIT, $0-40
	MOVQ         acc+0(FP), AX
	MOVQ         buf+8(FP), DI
	MOVQ         v+16(FP), SI
	MOVQ         n+24(FP), CX
	MOVQ         gt+32(FP), DX
	VMOVDQU      (DX), Y10
	VPBROADCASTD ·sfabs<>(SB), Y14
	VMOVUPD 0(AX), Z0
	VMOVUPD 64(AX), Z1
	VMOVUPD 128(AX), Z2
	VMOVUPD 192(AX), Z3
	TESTQ        CX, CX
	JZ           arfz4done

arfz4loop:
	VPBROADCASTD (SI), Y13
	VPAND        Y14, Y13, Y13
	VPCMPGTD     Y10, Y13, K1 // |v[j]| > gt[s], s = 0 … 7
	VADDPD.BCST  0(DI), Z0, K1, Z0
	VADDPD.BCST  2048(DI), Z1, K1, Z1
	VADDPD.BCST  4096(DI), Z2, K1, Z2
	VADDPD.BCST  6144(DI), Z3, K1, Z3
	ADDQ         $4, SI
	ADDQ         $8, DI
	DECQ         CX
	JNZ          arfz4loop

arfz4done:
	VMOVUPD Z0, 0(AX)
	VMOVUPD Z1, 64(AX)
	VMOVUPD Z2, 128(AX)
	VMOVUPD Z3, 192(AX)
	VZEROUPPER
	RET

// func addRowsFrom8AVX512(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)
TEXT ·addRowsFrom8AVX512(SB), NOSPLIT, $0-40
	MOVQ         acc+0(FP), AX
	MOVQ         buf+8(FP), DI
	MOVQ         v+16(FP), SI
	MOVQ         n+24(FP), CX
	MOVQ         gt+32(FP), DX
	VMOVDQU      (DX), Y10
	VPBROADCASTD ·sfabs<>(SB), Y14
	VMOVUPD 0(AX), Z0
	VMOVUPD 64(AX), Z1
	VMOVUPD 128(AX), Z2
	VMOVUPD 192(AX), Z3
	VMOVUPD 256(AX), Z4
	VMOVUPD 320(AX), Z5
	VMOVUPD 384(AX), Z6
	VMOVUPD 448(AX), Z7
	TESTQ        CX, CX
	JZ           arfz8done

arfz8loop:
	VPBROADCASTD (SI), Y13
	VPAND        Y14, Y13, Y13
	VPCMPGTD     Y10, Y13, K1 // |v[j]| > gt[s], s = 0 … 7
	VADDPD.BCST  0(DI), Z0, K1, Z0
	VADDPD.BCST  2048(DI), Z1, K1, Z1
	VADDPD.BCST  4096(DI), Z2, K1, Z2
	VADDPD.BCST  6144(DI), Z3, K1, Z3
	VADDPD.BCST  8192(DI), Z4, K1, Z4
	VADDPD.BCST  10240(DI), Z5, K1, Z5
	VADDPD.BCST  12288(DI), Z6, K1, Z6
	VADDPD.BCST  14336(DI), Z7, K1, Z7
	ADDQ         $4, SI
	ADDQ         $8, DI
	DECQ         CX
	JNZ          arfz8loop

arfz8done:
	VMOVUPD Z0, 0(AX)
	VMOVUPD Z1, 64(AX)
	VMOVUPD Z2, 128(AX)
	VMOVUPD Z3, 192(AX)
	VMOVUPD Z4, 256(AX)
	VMOVUPD Z5, 320(AX)
	VMOVUPD Z6, 384(AX)
	VMOVUPD Z7, 448(AX)
	VZEROUPPER
	RET
