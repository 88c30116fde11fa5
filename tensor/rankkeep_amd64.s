//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·rk7fff<>+0(SB)/4, $0x00007fff
GLOBL ·rk7fff<>(SB), RODATA|NOPTR, $4
DATA ·rk15<>+0(SB)/4, $15
GLOBL ·rk15<>(SB), RODATA|NOPTR, $4

// LIMIT replaces occ[i] (a constant index from DI, R11) with
// limits[prefix[key] + occ[i]].
#define LIMIT(i, R) \
	MOVWLZX (4*i+2)(DI), R   \
	ANDL    $0x7fff, R       \
	MOVL    (R8)(R*4), R     \
	ADDL    (4*i)(R11), R    \
	MOVL    (R9)(R*4), R     \
	MOVL    R, (4*i)(R11)

// func rankKeepAVX512(x []float32, draws *uint32, prefix *int32, occ *int32, limits *uint32, keep *uint16)
TEXT ·rankKeepAVX512(SB), NOSPLIT, $0-64
	MOVQ x_base+0(FP), DI
	MOVQ x_len+8(FP), CX
	MOVQ draws+24(FP), SI
	MOVQ prefix+32(FP), R8
	MOVQ occ+40(FP), R11
	MOVQ limits+48(FP), R9
	MOVQ keep+56(FP), R10
	SHRQ $4, CX
	JZ   rkDone

	// First every element's limit, in place of its occurrence count:
	// scalar loads (a gather is no faster per element on AMD cores).
	MOVQ DI, R12
	MOVQ R11, R13
	MOVQ CX, BX

rkLimits:
	LIMIT(0, AX)
	LIMIT(1, DX)
	LIMIT(2, AX)
	LIMIT(3, DX)
	LIMIT(4, AX)
	LIMIT(5, DX)
	LIMIT(6, AX)
	LIMIT(7, DX)
	LIMIT(8, AX)
	LIMIT(9, DX)
	LIMIT(10, AX)
	LIMIT(11, DX)
	LIMIT(12, AX)
	LIMIT(13, DX)
	LIMIT(14, AX)
	LIMIT(15, DX)
	ADDQ $64, DI
	ADDQ $64, R11
	DECQ BX
	JNZ  rkLimits

	// Then 16 elements at a time: draws <= limits.
	MOVQ R12, DI
	MOVQ R13, R11

rkLoop:
	VMOVDQU32   (DI), Z0
	VMOVDQU32   (R11), Z5             // limits[rank]
	VMOVDQU32   (SI), Z6              // draws
	VPCMPUD     $2, Z5, Z6, K3        // draws <= limits: kept
	VMOVDQU32.Z Z0, K3, Z7
	VMOVDQU32   Z7, (DI)
	KMOVW       K3, AX
	ORW         AX, (R10)
	ADDQ        $64, DI
	ADDQ        $64, SI
	ADDQ        $64, R11
	ADDQ        $2, R10
	DECQ        CX
	JNZ         rkLoop

rkDone:
	VZEROUPPER
	RET

// func scanKeysAVX512(hist *int32, prefix *int32, n int, sum int32) int32
TEXT ·scanKeysAVX512(SB), NOSPLIT, $0-36
	MOVQ         hist+0(FP), DI
	MOVQ         prefix+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVL         sum+24(FP), AX
	VPBROADCASTD AX, Z8              // the running sum in every lane
	VPXORD       Z9, Z9, Z9
	VPBROADCASTD ·rk15<>(SB), Z10
	SHRQ         $4, CX
	JZ           skDone

skLoop:
	VMOVDQU32 (DI), Z0               // counts
	VALIGND   $15, Z9, Z0, Z1        // lane i: counts[i-1]
	VPADDD    Z1, Z0, Z1
	VALIGND   $14, Z9, Z1, Z2
	VPADDD    Z2, Z1, Z1
	VALIGND   $12, Z9, Z1, Z2
	VPADDD    Z2, Z1, Z1
	VALIGND   $8, Z9, Z1, Z2
	VPADDD    Z2, Z1, Z1             // inclusive prefix sums
	VPSUBD    Z0, Z1, Z2             // exclusive
	VPADDD    Z8, Z2, Z2
	VMOVDQU32 Z2, (SI)
	VMOVDQU32 Z9, (DI)
	VPERMD    Z1, Z10, Z3            // the vector's total in every lane
	VPADDD    Z3, Z8, Z8
	ADDQ      $64, DI
	ADDQ      $64, SI
	DECQ      CX
	JNZ       skLoop

skDone:
	VMOVD      X8, AX
	MOVL       AX, ret+32(FP)
	VZEROUPPER
	RET

// func keySpanAVX512(x []float32) (bits, lowest, highest uint32)
TEXT ·keySpanAVX512(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VPBROADCASTD ·rk7fff<>(SB), Z15
	VPTERNLOGD   $0xff, Z14, Z14, Z14  // -1 in every lane
	VPXORD       Z0, Z0, Z0            // bits
	VMOVDQA32    Z14, Z1               // lowest
	VPXORD       Z2, Z2, Z2            // highest
	SHRQ         $4, CX
	JZ           ksReduce

ksLoop:
	VMOVDQU32 (DI), Z3
	VPORD     Z3, Z0, Z0
	VPSRLD    $16, Z3, Z4
	VPANDD    Z15, Z4, Z4              // keys
	VPMAXUD   Z4, Z2, Z2
	VPADDD    Z14, Z4, Z4              // keys less one
	VPMINUD   Z4, Z1, Z1
	ADDQ      $64, DI
	DECQ      CX
	JNZ       ksLoop

ksReduce:
	VEXTRACTI64X4 $1, Z0, Y5
	VPOR          Y5, Y0, Y0
	VEXTRACTI128  $1, Y0, X5
	VPOR          X5, X0, X0
	VPSHUFD       $0x4e, X0, X5
	VPOR          X5, X0, X0
	VPSHUFD       $0xb1, X0, X5
	VPOR          X5, X0, X0
	VMOVD         X0, AX
	MOVL          AX, bits+24(FP)
	VEXTRACTI64X4 $1, Z1, Y5
	VPMINUD       Y5, Y1, Y1
	VEXTRACTI128  $1, Y1, X5
	VPMINUD       X5, X1, X1
	VPSHUFD       $0x4e, X1, X5
	VPMINUD       X5, X1, X1
	VPSHUFD       $0xb1, X1, X5
	VPMINUD       X5, X1, X1
	VMOVD         X1, AX
	MOVL          AX, lowest+28(FP)
	VEXTRACTI64X4 $1, Z2, Y5
	VPMAXUD       Y5, Y2, Y2
	VEXTRACTI128  $1, Y2, X5
	VPMAXUD       X5, X2, X2
	VPSHUFD       $0x4e, X2, X5
	VPMAXUD       X5, X2, X2
	VPSHUFD       $0xb1, X2, X5
	VPMAXUD       X5, X2, X2
	VMOVD         X2, AX
	MOVL          AX, highest+32(FP)
	VZEROUPPER
	RET

// COUNTKEY counts element i (a constant) of the four at SI(AX*4): its key
// from the high half of the float32, loaded alone, occ from hist[key],
// and hist[key] incremented.
#define COUNTKEY(i, K, O) \
	MOVWLZX (4*i+2)(SI)(AX*4), K \
	ANDL    $0x7fff, K           \
	MOVL    (DI)(K*4), O         \
	MOVL    O, (4*i)(DX)(AX*4)   \
	INCL    O                    \
	MOVL    O, (DI)(K*4)

// func countKeysAMD64(x []float32, hist *int32, occ *int32)
TEXT ·countKeysAMD64(SB), NOSPLIT, $0-40
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ hist+24(FP), DI
	MOVQ occ+32(FP), DX
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-4, BX
	JZ   ckTail

ckLoop:
	COUNTKEY(0, R8, R9)
	COUNTKEY(1, R10, R11)
	COUNTKEY(2, R12, R13)
	COUNTKEY(3, R8, R9) // renamed: no chain with element 0
	ADDQ $4, AX
	CMPQ AX, BX
	JLT  ckLoop

ckTail:
	CMPQ AX, CX
	JGE  ckDone
	COUNTKEY(0, R8, R9)
	INCQ AX
	JMP  ckTail

ckDone:
	RET

// func keySpanAVX2(x []float32) (bits, lowest, highest uint32)
TEXT ·keySpanAVX2(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VPBROADCASTD ·rk7fff<>(SB), Y15
	VPCMPEQD     Y14, Y14, Y14         // -1 in every lane
	VPXOR        Y0, Y0, Y0            // bits
	VMOVDQU      Y14, Y1               // lowest
	VPXOR        Y2, Y2, Y2            // highest
	SHRQ         $3, CX
	JZ           kaReduce

kaLoop:
	VMOVDQU (DI), Y3
	VPOR    Y3, Y0, Y0
	VPSRLD  $16, Y3, Y4
	VPAND   Y15, Y4, Y4                // keys
	VPMAXUD Y4, Y2, Y2
	VPADDD  Y14, Y4, Y4                // keys less one
	VPMINUD Y4, Y1, Y1
	ADDQ    $32, DI
	DECQ    CX
	JNZ     kaLoop

kaReduce:
	VEXTRACTI128 $1, Y0, X5
	VPOR         X5, X0, X0
	VPSHUFD      $0x4e, X0, X5
	VPOR         X5, X0, X0
	VPSHUFD      $0xb1, X0, X5
	VPOR         X5, X0, X0
	VMOVD        X0, AX
	MOVL         AX, bits+24(FP)
	VEXTRACTI128 $1, Y1, X5
	VPMINUD      X5, X1, X1
	VPSHUFD      $0x4e, X1, X5
	VPMINUD      X5, X1, X1
	VPSHUFD      $0xb1, X1, X5
	VPMINUD      X5, X1, X1
	VMOVD        X1, AX
	MOVL         AX, lowest+28(FP)
	VEXTRACTI128 $1, Y2, X5
	VPMAXUD      X5, X2, X2
	VPSHUFD      $0x4e, X2, X5
	VPMAXUD      X5, X2, X2
	VPSHUFD      $0xb1, X2, X5
	VPMAXUD      X5, X2, X2
	VMOVD        X2, AX
	MOVL         AX, highest+32(FP)
	VZEROUPPER
	RET
