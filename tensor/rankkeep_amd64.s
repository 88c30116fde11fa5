//go:build amd64 && gc && !purego

#include "textflag.h"

DATA ·rk7fff<>+0(SB)/4, $0x00007fff
GLOBL ·rk7fff<>(SB), RODATA|NOPTR, $4
DATA ·rk15<>+0(SB)/4, $15
GLOBL ·rk15<>(SB), RODATA|NOPTR, $4
DATA ·rkabs<>+0(SB)/8, $0x7fffffffffffffff
GLOBL ·rkabs<>(SB), RODATA|NOPTR, $8

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

// HIST adds element i (a constant) of the four at SI(AX*4) to hist: its
// key from the high half of the float32, loaded alone.
#define HIST(i) \
	MOVWLZX (4*i+2)(SI)(AX*4), R8 \
	ANDL    $0x7fff, R8           \
	INCL    (DI)(R8*4)

// func countKeysAMD64(x []float32, hist *int32)
TEXT ·countKeysAMD64(SB), NOSPLIT, $0-32
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ hist+24(FP), DI
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-4, BX
	JZ   chTail

chLoop:
	HIST(0)
	HIST(1)
	HIST(2)
	HIST(3)
	ADDQ $4, AX
	CMPQ AX, BX
	JLT  chLoop

chTail:
	CMPQ AX, CX
	JGE  chDone
	HIST(0)
	INCQ AX
	JMP  chTail

chDone:
	RET

// NEXT walks element i (a constant) of the 16 at DI: rank = next[key],
// next[key]++, and its drop bit (limits[rank] < draws[i]) rotated into
// R12 from the top.
#define NEXT(i) \
	MOVWLZX (4*i+2)(DI), AX \
	ANDL    $0x7fff, AX     \
	MOVL    (R8)(AX*4), DX  \
	LEAL    1(DX), BX       \
	MOVL    BX, (R8)(AX*4)  \
	MOVL    (R9)(DX*4), DX  \
	CMPL    DX, (4*i)(SI)   \
	RCRL    $1, R12

// func rankKeepAVX512(x []float32, draws *uint32, next *int32, limits *uint32, keep *uint16)
TEXT ·rankKeepAVX512(SB), NOSPLIT, $0-56
	MOVQ x_base+0(FP), DI
	MOVQ x_len+8(FP), CX
	MOVQ draws+24(FP), SI
	MOVQ next+32(FP), R8
	MOVQ limits+40(FP), R9
	MOVQ keep+48(FP), R10
	SHRQ $4, CX
	JZ   rnDone

rnLoop:
	NEXT(0)
	NEXT(1)
	NEXT(2)
	NEXT(3)
	NEXT(4)
	NEXT(5)
	NEXT(6)
	NEXT(7)
	NEXT(8)
	NEXT(9)
	NEXT(10)
	NEXT(11)
	NEXT(12)
	NEXT(13)
	NEXT(14)
	NEXT(15)
	SHRL        $16, R12              // element i's drop bit in bit i
	NOTL        R12                   // kept
	KMOVW       R12, K1
	VMOVDQU32.Z (DI), K1, Z0
	VMOVDQU32   Z0, (DI)
	ORW         R12, (R10)
	ADDQ        $64, DI
	ADDQ        $64, SI
	ADDQ        $2, R10
	DECQ        CX
	JNZ         rnLoop

rnDone:
	VZEROUPPER
	RET

// func rankKeepAbsSumAVX512(x []float32, draws *uint32, next *int32, limits *uint32, keep *uint16, lanes *[16]float64)
TEXT ·rankKeepAbsSumAVX512(SB), NOSPLIT, $0-64
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	MOVQ         draws+24(FP), SI
	MOVQ         next+32(FP), R8
	MOVQ         limits+40(FP), R9
	MOVQ         keep+48(FP), R10
	MOVQ         lanes+56(FP), R11
	VBROADCASTSD ·rkabs<>(SB), Z12    // float64 magnitude mask
	VMOVUPD      (R11), Z8            // lanes 0-7
	VMOVUPD      64(R11), Z9          // lanes 8-15
	SHRQ         $4, CX
	JZ           rsDone

rsLoop:
	NEXT(0)
	NEXT(1)
	NEXT(2)
	NEXT(3)
	NEXT(4)
	NEXT(5)
	NEXT(6)
	NEXT(7)
	NEXT(8)
	NEXT(9)
	NEXT(10)
	NEXT(11)
	NEXT(12)
	NEXT(13)
	NEXT(14)
	NEXT(15)
	SHRL          $16, R12            // element i's drop bit in bit i
	NOTL          R12                 // kept
	KMOVW         R12, K1
	VMOVDQU32.Z   (DI), K1, Z0
	VMOVDQU32     Z0, (DI)
	ORW           R12, (R10)
	VCVTPS2PD     Y0, Z1              // elements 0-7 as float64
	VEXTRACTF32X8 $1, Z0, Y2
	VCVTPS2PD     Y2, Z2              // elements 8-15
	VANDPD        Z12, Z1, Z1
	VANDPD        Z12, Z2, Z2
	VADDPD        Z1, Z8, Z8
	VADDPD        Z2, Z9, Z9
	ADDQ          $64, DI
	ADDQ          $64, SI
	ADDQ          $2, R10
	DECQ          CX
	JNZ           rsLoop

rsDone:
	VMOVUPD Z8, (R11)
	VMOVUPD Z9, 64(R11)
	VZEROUPPER
	RET

// func rankKeepAbsSumsAVX512(x []float32, draws *uint32, next *int32, limits *uint32, keep *uint16, all, kept *[16]float64)
//
// rankKeepAbsSumAVX512 that also adds the magnitudes of each 16 elements
// before the drop to all's lanes (Z10, Z11), from the same load.
TEXT ·rankKeepAbsSumsAVX512(SB), NOSPLIT, $0-72
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	MOVQ         draws+24(FP), SI
	MOVQ         next+32(FP), R8
	MOVQ         limits+40(FP), R9
	MOVQ         keep+48(FP), R10
	MOVQ         all+56(FP), R13
	MOVQ         kept+64(FP), R11
	VBROADCASTSD ·rkabs<>(SB), Z12    // float64 magnitude mask
	VMOVUPD      (R13), Z10           // all's lanes 0-7
	VMOVUPD      64(R13), Z11         // all's lanes 8-15
	VMOVUPD      (R11), Z8            // kept's lanes 0-7
	VMOVUPD      64(R11), Z9          // kept's lanes 8-15
	SHRQ         $4, CX
	JZ           r2Done

r2Loop:
	NEXT(0)
	NEXT(1)
	NEXT(2)
	NEXT(3)
	NEXT(4)
	NEXT(5)
	NEXT(6)
	NEXT(7)
	NEXT(8)
	NEXT(9)
	NEXT(10)
	NEXT(11)
	NEXT(12)
	NEXT(13)
	NEXT(14)
	NEXT(15)
	SHRL          $16, R12            // element i's drop bit in bit i
	NOTL          R12                 // kept
	KMOVW         R12, K1
	VMOVDQU32     (DI), Z3            // before the drop
	VMOVDQA32.Z   Z3, K1, Z0          // after it
	VMOVDQU32     Z0, (DI)
	ORW           R12, (R10)
	VCVTPS2PD     Y3, Z4
	VEXTRACTF32X8 $1, Z3, Y5
	VCVTPS2PD     Y5, Z5
	VANDPD        Z12, Z4, Z4
	VANDPD        Z12, Z5, Z5
	VADDPD        Z4, Z10, Z10
	VADDPD        Z5, Z11, Z11
	VCVTPS2PD     Y0, Z1              // elements 0-7 as float64
	VEXTRACTF32X8 $1, Z0, Y2
	VCVTPS2PD     Y2, Z2              // elements 8-15
	VANDPD        Z12, Z1, Z1
	VANDPD        Z12, Z2, Z2
	VADDPD        Z1, Z8, Z8
	VADDPD        Z2, Z9, Z9
	ADDQ          $64, DI
	ADDQ          $64, SI
	ADDQ          $2, R10
	DECQ          CX
	JNZ           r2Loop

r2Done:
	VMOVUPD Z10, (R13)
	VMOVUPD Z11, 64(R13)
	VMOVUPD Z8, (R11)
	VMOVUPD Z9, 64(R11)
	VZEROUPPER
	RET
