//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 body of subcount_amd64.go, with the constants of BF16ROUNDF.

DATA ·sc7fff<>+0(SB)/4, $0x00007fff
GLOBL ·sc7fff<>(SB), RODATA|NOPTR, $4
DATA ·sc1<>+0(SB)/4, $0x00000001
GLOBL ·sc1<>(SB), RODATA|NOPTR, $4
DATA ·scquiet<>+0(SB)/4, $0x00400000
GLOBL ·scquiet<>(SB), RODATA|NOPTR, $4
DATA ·schigh<>+0(SB)/4, $0xffff0000
GLOBL ·schigh<>(SB), RODATA|NOPTR, $4
DATA ·scabs<>+0(SB)/4, $0x7fffffff
GLOBL ·scabs<>(SB), RODATA|NOPTR, $4
DATA ·scinf<>+0(SB)/4, $0x7f800000
GLOBL ·scinf<>(SB), RODATA|NOPTR, $4

#include "bf16round_amd64.h"

// func subCountWindowsBF16AVX2(hist0, hist1 []uint32, a, b []uint16, lo0, hi0, lo1, hi1 uint32) (above0, above1 int)
//
// Per vector of 8: the task vector as subBF16AVX2 computes it (rounded
// with BF16ROUNDF), its magnitudes u, and for each window
// countAboveWindowShiftAVX2's step: u > hi subtracted from 32-bit counts
// and the lanes inside the window packed to the front (VPERMD by
// windowPack) and stored to the window's buffer on the stack, with no
// branch on the data. After the loop (at most subCountChunk elements, so
// the buffers hold them) scalar loops increment hist[(u-lo)>>16] for the
// buffered u. Each buffer has room for one vector past subCountChunk, as
// a vector's store writes 8 lanes whatever its number inside.
TEXT ·subCountWindowsBF16AVX2(SB), 0, $16448-128
	MOVQ         hist0_base+0(FP), DI
	MOVQ         hist1_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         a_len+56(FP), CX
	MOVQ         b_base+72(FP), DX
	VBROADCASTSS lo0+96(FP), Y6
	VBROADCASTSS hi0+100(FP), Y5
	VBROADCASTSS lo1+104(FP), Y8
	VBROADCASTSS hi1+108(FP), Y7
	VPBROADCASTD ·sc7fff<>(SB), Y14
	VPBROADCASTD ·sc1<>(SB), Y13
	VPBROADCASTD ·schigh<>(SB), Y12
	VPBROADCASTD ·scabs<>(SB), Y11
	VPBROADCASTD ·scinf<>(SB), Y10
	VPBROADCASTD ·scquiet<>(SB), Y9
	VPXOR        Y15, Y15, Y15    // above hi0, negated
	VPXOR        Y4, Y4, Y4       // above hi1, negated
	LEAQ         ·windowPack(SB), R13
	LEAQ         ·windowIn(SB), R14
	XORQ         R12, R12         // buffered elements of window 0
	XORQ         BX, BX           // of window 1
	SHRQ         $3, CX
	JZ           scSum

scLoop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD (DX), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VSUBPS    Y1, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y3, Y1)   // d
	VPAND     Y11, Y2, Y0        // u
	VPCMPGTD  Y5, Y0, Y1         // u > hi0
	VPSUBD    Y1, Y15, Y15
	VPCMPGTD  Y0, Y6, Y2         // lo0 > u
	VPOR      Y2, Y1, Y1         // outside window 0
	VMOVMSKPS Y1, AX
	VPMOVZXBD (R13)(AX*8), Y2
	VPERMD    Y0, Y2, Y2
	MOVBQZX   (R14)(AX*1), AX
	VMOVDQU   Y2, (SP)(R12*4)
	ADDQ      AX, R12
	VPCMPGTD  Y7, Y0, Y1         // u > hi1
	VPSUBD    Y1, Y4, Y4
	VPCMPGTD  Y0, Y8, Y3         // lo1 > u
	VPOR      Y3, Y1, Y1         // outside window 1
	VMOVMSKPS Y1, R9
	VPMOVZXBD (R13)(R9*8), Y3
	VPERMD    Y0, Y3, Y3
	MOVBQZX   (R14)(R9*1), R9
	VMOVDQU   Y3, 8224(SP)(BX*4)
	ADDQ      R9, BX
	ADDQ      $16, SI
	ADDQ      $16, DX
	DECQ      CX
	JNZ       scLoop

	MOVL  lo0+96(FP), R10
	XORQ  R11, R11
	TESTQ R12, R12
	JZ    scWin1

scScatter0:
	MOVL (SP)(R11*4), AX
	SUBL R10, AX
	SHRL $16, AX
	INCL (DI)(AX*4)
	INCQ R11
	CMPQ R11, R12
	JNE  scScatter0

scWin1:
	MOVL  lo1+104(FP), R10
	XORQ  R11, R11
	TESTQ BX, BX
	JZ    scSum

scScatter1:
	MOVL 8224(SP)(R11*4), AX
	SUBL R10, AX
	SHRL $16, AX
	INCL (R8)(AX*4)
	INCQ R11
	CMPQ R11, BX
	JNE  scScatter1

scSum:
	VEXTRACTI128 $1, Y15, X0
	VPADDD       X0, X15, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX
	MOVQ         AX, above0+112(FP)
	VEXTRACTI128 $1, Y4, X0
	VPADDD       X0, X4, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX
	MOVQ         AX, above1+120(FP)
	VZEROUPPER
	RET

#include "bf16round512_amd64.h"

// func subCountWindowsBF16AVX512(hist0, hist1 []uint32, a, b []uint16, lo0, hi0, lo1, hi1 uint32) (above0, above1 int)
//
// subCountWindowsBF16AVX2 on 16 lanes (AVX-512F and BW): u > hi into a
// mask counted with KMOVW and POPCNT, the window test one unsigned compare
// of u−lo with hi−lo, and the window lanes' u−lo packed to the front with
// VPCOMPRESSD into a register (the form with a memory operand is slow on
// some CPUs) and stored whole to the window's buffer. The buffers hold
// subCountChunk elements and one vector more.
TEXT ·subCountWindowsBF16AVX512(SB), 0, $16512-128
	MOVQ         hist0_base+0(FP), DI
	MOVQ         hist1_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         a_len+56(FP), CX
	MOVQ         b_base+72(FP), DX
	VBROADCASTSS lo0+96(FP), Z6
	VBROADCASTSS hi0+100(FP), Z5
	VPSUBD       Z6, Z5, Z7          // hi0 − lo0
	VBROADCASTSS lo1+104(FP), Z9
	VBROADCASTSS hi1+108(FP), Z8
	VPSUBD       Z9, Z8, Z10         // hi1 − lo1
	BF16CONSTS512(·sc7fff<>(SB), ·sc1<>(SB), ·schigh<>(SB), ·scabs<>(SB), ·scinf<>(SB), ·scquiet<>(SB))
	XORQ         R10, R10            // above hi0
	XORQ         R11, R11            // above hi1
	XORQ         R12, R12            // buffered elements of window 0
	XORQ         BX, BX              // of window 1
	SHRQ         $4, CX
	JZ           sc5Scatter

sc5Loop:
	VPMOVZXWD   (SI), Z0
	VPMOVZXWD   (DX), Z1
	VPSLLD      $16, Z0, Z0
	VPSLLD      $16, Z1, Z1
	VSUBPS      Z1, Z0, Z0
	BF16ROUND512(Z0, Z2, Z3)         // d
	VPANDD      Z27, Z2, Z0          // u
	VPCMPGTD    Z5, Z0, K2           // u > hi0
	VPCMPGTD    Z8, Z0, K3           // u > hi1
	KMOVW       K2, AX
	KMOVW       K3, R9
	POPCNTL     AX, AX
	POPCNTL     R9, R9
	ADDQ        AX, R10
	ADDQ        R9, R11
	VPSUBD      Z6, Z0, Z1           // u − lo0
	VPSUBD      Z9, Z0, Z2           // u − lo1
	VPCMPUD     $2, Z7, Z1, K2       // inside window 0
	VPCMPUD     $2, Z10, Z2, K3      // inside window 1
	VPCOMPRESSD Z1, K2, Z3
	VPCOMPRESSD Z2, K3, Z4
	VMOVDQU32   Z3, (SP)(R12*4)
	VMOVDQU32   Z4, 8256(SP)(BX*4)
	KMOVW       K2, AX
	KMOVW       K3, R9
	POPCNTL     AX, AX
	POPCNTL     R9, R9
	ADDQ        AX, R12
	ADDQ        R9, BX
	ADDQ        $32, SI
	ADDQ        $32, DX
	DECQ        CX
	JNZ         sc5Loop

sc5Scatter:
	XORQ  R9, R9
	TESTQ R12, R12
	JZ    sc5Win1

sc5Scatter0:
	MOVL (SP)(R9*4), AX
	SHRL $16, AX
	INCL (DI)(AX*4)
	INCQ R9
	CMPQ R9, R12
	JNE  sc5Scatter0

sc5Win1:
	XORQ  R9, R9
	TESTQ BX, BX
	JZ    sc5Done

sc5Scatter1:
	MOVL 8256(SP)(R9*4), AX
	SHRL $16, AX
	INCL (R8)(AX*4)
	INCQ R9
	CMPQ R9, BX
	JNE  sc5Scatter1

sc5Done:
	MOVQ R10, above0+112(FP)
	MOVQ R11, above1+120(FP)
	VZEROUPPER
	RET

#include "bf16widen512_amd64.h"
#include "bf16cvt512_amd64.h"
#include "cvtpair512_amd64.h"

// func subCountWindowsBF16CVT(hist0, hist1 []uint32, a, b []uint16, lo0, hi0, lo1, hi1 uint32) (above0, above1 int)
//
// subCountWindowsBF16AVX512 on two vectors of 16 per iteration, rounded
// together by VCVTNE2PS2BF16 and counted as 32 words: u, the packed
// magnitudes, above each hi (VPCMPUW, POPCNT), and u − lo where it lies in
// a window (whose bounds' low halves the caller keeps zero, so that it is
// the window's slot) compressed into a buffer of words (VPCOMPRESSW) that
// is scattered into the histogram at the end. The caller keeps both lo at
// least the smallest normal, so that a denormal difference, which the
// instruction flushes to zero, lies below both windows either way, and the
// length a multiple of 32 and at most subCountChunk.
TEXT ·subCountWindowsBF16CVT(SB), 0, $8384-128
	MOVQ         hist0_base+0(FP), DI
	MOVQ         hist1_base+24(FP), R8
	MOVQ         a_base+48(FP), SI
	MOVQ         a_len+56(FP), CX
	MOVQ         b_base+72(FP), DX
	MOVL         lo0+96(FP), AX
	SHRL         $16, AX
	VPBROADCASTW AX, Z6            // lo0
	MOVL         hi0+100(FP), R9
	SHRL         $16, R9
	VPBROADCASTW R9, Z5            // hi0
	SUBL         AX, R9
	VPBROADCASTW R9, Z7            // hi0 − lo0
	MOVL         lo1+104(FP), AX
	SHRL         $16, AX
	VPBROADCASTW AX, Z9            // lo1
	MOVL         hi1+108(FP), R9
	SHRL         $16, R9
	VPBROADCASTW R9, Z8            // hi1
	SUBL         AX, R9
	VPBROADCASTW R9, Z10           // hi1 − lo1
	MOVL         $0x7fff, AX
	VPBROADCASTW AX, Z11
	BF16WIDENCONSTS512
	XORQ         R10, R10          // above hi0
	XORQ         R11, R11          // above hi1
	XORQ         R12, R12          // buffered elements of window 0
	XORQ         BX, BX            // of window 1
	SHRQ         $5, CX
	JZ           sccScatter

sccLoop:
	SUBBF16PAIR512
	CVTNE2PS2BF16_Z4_Z1_Z0         // d
	VPANDD      Z11, Z4, Z0        // u
	VPCMPUW     $6, Z5, Z0, K2     // u > hi0
	VPCMPUW     $6, Z8, Z0, K3     // u > hi1
	KMOVD       K2, AX
	KMOVD       K3, R9
	POPCNTL     AX, AX
	POPCNTL     R9, R9
	ADDQ        AX, R10
	ADDQ        R9, R11
	VPSUBW      Z6, Z0, Z1         // u − lo0
	VPSUBW      Z9, Z0, Z2         // u − lo1
	VPCMPUW     $2, Z7, Z1, K2     // inside window 0
	VPCMPUW     $2, Z10, Z2, K3    // inside window 1
	VPCOMPRESSW Z1, K2, Z3
	VPCOMPRESSW Z2, K3, Z4
	VMOVDQU16   Z3, (SP)(R12*2)
	VMOVDQU16   Z4, 4192(SP)(BX*2)
	KMOVD       K2, AX
	KMOVD       K3, R9
	POPCNTL     AX, AX
	POPCNTL     R9, R9
	ADDQ        AX, R12
	ADDQ        R9, BX
	ADDQ        $64, SI
	ADDQ        $64, DX
	DECQ        CX
	JNZ         sccLoop

sccScatter:
	XORQ  R9, R9
	TESTQ R12, R12
	JZ    sccWin1

sccScatter0:
	MOVWLZX (SP)(R9*2), AX
	INCL    (DI)(AX*4)
	INCQ    R9
	CMPQ    R9, R12
	JNE     sccScatter0

sccWin1:
	XORQ  R9, R9
	TESTQ BX, BX
	JZ    sccDone

sccScatter1:
	MOVWLZX 4192(SP)(R9*2), AX
	INCL    (R8)(AX*4)
	INCQ    R9
	CMPQ    R9, BX
	JNE     sccScatter1

sccDone:
	MOVQ R10, above0+112(FP)
	MOVQ R11, above1+120(FP)
	VZEROUPPER
	RET
