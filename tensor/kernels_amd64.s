//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 (+F16C) bodies of the kernels declared in kernels_amd64.go. Each
// main loop handles 16 or 32 elements per iteration, then one vector of 8 (4
// for the reductions) at a time; the length is a multiple of 8 (4). Loads
// and stores are unaligned. Every function ends with VZEROUPPER so that the
// SSE code the Go compiler emits pays no transition penalty. Like the Go
// compiler's own float code, the kernels assume Go's MXCSR: round to nearest,
// no DAZ or FTZ (VCVTPS2PH takes its rounding from the immediate anyway).
//
// Where two NaNs meet, x86 returns the first source operand's NaN (quieted).
// The float32 kernels put the operands in the order that the gc compiler's
// SSE code for the *Generic functions uses, so that even the NaN payloads
// agree: x*a then +dst for Axpy, dst*a for Scale, dst+x for Add. (Builds
// with -race or -N compile the references with other orders.) In Go's
// operand order the first source is the second-to-last operand.

DATA ·c7fff<>+0(SB)/4, $0x00007fff
GLOBL ·c7fff<>(SB), RODATA|NOPTR, $4
DATA ·c1<>+0(SB)/4, $0x00000001
GLOBL ·c1<>(SB), RODATA|NOPTR, $4
DATA ·c40<>+0(SB)/4, $0x00000040
GLOBL ·c40<>(SB), RODATA|NOPTR, $4
DATA ·c7c00<>+0(SB)/4, $0x00007c00
GLOBL ·c7c00<>(SB), RODATA|NOPTR, $4
DATA ·c7c007c00<>+0(SB)/4, $0x7c007c00
GLOBL ·c7c007c00<>(SB), RODATA|NOPTR, $4
DATA ·cquiet<>+0(SB)/4, $0x00400000
GLOBL ·cquiet<>(SB), RODATA|NOPTR, $4
DATA ·chigh<>+0(SB)/4, $0xffff0000
GLOBL ·chigh<>(SB), RODATA|NOPTR, $4
DATA ·cabs<>+0(SB)/4, $0x7fffffff
GLOBL ·cabs<>(SB), RODATA|NOPTR, $4
DATA ·cinf<>+0(SB)/4, $0x7f800000
GLOBL ·cinf<>(SB), RODATA|NOPTR, $4
DATA ·cabs64<>+0(SB)/8, $0x7fffffffffffffff
GLOBL ·cabs64<>(SB), RODATA|NOPTR, $8

// func decodeBF16AVX2(dst []float32, src []uint16)
TEXT ·decodeBF16AVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   bf16dec8

bf16dec32:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPMOVZXWD 32(SI), Y2
	VPMOVZXWD 48(SI), Y3
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VPSLLD    $16, Y2, Y2
	VPSLLD    $16, Y3, Y3
	VMOVDQU   Y0, (DI)
	VMOVDQU   Y1, 32(DI)
	VMOVDQU   Y2, 64(DI)
	VMOVDQU   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	DECQ      BX
	JNZ       bf16dec32

bf16dec8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   bf16decdone

bf16dec8loop:
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VMOVDQU   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       bf16dec8loop

bf16decdone:
	VZEROUPPER
	RET

// BF16ROUND sets each lane of out to F32ToBF16 of the lane of in, in its low
// 16 bits: out = (in + 0x7fff + (in>>16)&1) >> 16, or (in>>16) | 0x40 where
// |in| > 0x7f800000 (a NaN). Y14..Y10 hold 0x7fff, 1, 0x40, 0x7fffffff and
// 0x7f800000; t1 and t2 are scratch; in is kept.
#define BF16ROUND(in, out, t1, t2) \
	VPSRLD    $16, in, t1        \
	VPAND     Y13, t1, t2        \
	VPADDD    Y14, in, out       \
	VPADDD    t2, out, out       \
	VPSRLD    $16, out, out      \
	VPOR      Y12, t1, t1        \
	VPAND     Y11, in, t2        \
	VPCMPGTD  Y10, t2, t2        \
	VPBLENDVB t2, t1, out, out

// func encodeBF16AVX2(dst []uint16, src []float32)
TEXT ·encodeBF16AVX2(SB), NOSPLIT, $0-48
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         src_base+24(FP), SI
	VPBROADCASTD ·c7fff<>(SB), Y14
	VPBROADCASTD ·c1<>(SB), Y13
	VPBROADCASTD ·c40<>(SB), Y12
	VPBROADCASTD ·cabs<>(SB), Y11
	VPBROADCASTD ·cinf<>(SB), Y10
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           bf16enc8

bf16enc16:
	VMOVDQU   (SI), Y0
	VMOVDQU   32(SI), Y1
	BF16ROUND(Y0, Y2, Y4, Y5)
	BF16ROUND(Y1, Y3, Y6, Y7)
	VPACKUSDW Y3, Y2, Y2     // lanes: 0-3, 8-11, 4-7, 12-15
	VPERMQ    $0xd8, Y2, Y2
	VMOVDQU   Y2, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	DECQ      BX
	JNZ       bf16enc16

bf16enc8:
	TESTQ      $8, CX
	JZ         bf16encdone
	VMOVDQU    (SI), Y0
	BF16ROUND(Y0, Y2, Y4, Y5)
	VEXTRACTI128 $1, Y2, X3
	VPACKUSDW  X3, X2, X2
	VMOVDQU    X2, (DI)

bf16encdone:
	VZEROUPPER
	RET

// BF16ROUNDF is roundBF16Scalar: BF16ROUND leaving float32 bits, the
// rounded value with its low half cleared, or for a NaN the input with the
// quiet bit set and its low half cleared. Y14..Y9 hold 0x7fff, 1,
// 0xffff0000, 0x7fffffff, 0x7f800000 and 0x00400000.
#define BF16ROUNDF(in, out, t1, t2) \
	VPSRLD    $16, in, t1        \
	VPAND     Y13, t1, t1        \
	VPADDD    Y14, in, out       \
	VPADDD    t1, out, out       \
	VPAND     Y12, out, out      \
	VPOR      Y9, in, t1         \
	VPAND     Y12, t1, t1        \
	VPAND     Y11, in, t2        \
	VPCMPGTD  Y10, t2, t2        \
	VPBLENDVB t2, t1, out, out

// func roundBF16AVX2(x []float32)
TEXT ·roundBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VPBROADCASTD ·c7fff<>(SB), Y14
	VPBROADCASTD ·c1<>(SB), Y13
	VPBROADCASTD ·chigh<>(SB), Y12
	VPBROADCASTD ·cabs<>(SB), Y11
	VPBROADCASTD ·cinf<>(SB), Y10
	VPBROADCASTD ·cquiet<>(SB), Y9
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           bf16round8

bf16round16:
	VMOVDQU (DI), Y0
	VMOVDQU 32(DI), Y1
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	BF16ROUNDF(Y1, Y3, Y6, Y7)
	VMOVDQU Y2, (DI)
	VMOVDQU Y3, 32(DI)
	ADDQ    $64, DI
	DECQ    BX
	JNZ     bf16round16

bf16round8:
	TESTQ   $8, CX
	JZ      bf16rounddone
	VMOVDQU (DI), Y0
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	VMOVDQU Y2, (DI)

bf16rounddone:
	VZEROUPPER
	RET

// F16FIX undoes the quieting of signalling NaNs by VCVTPH2PS: h holds the
// binary16 inputs zero-extended to 32 bits, f their conversions. Where h is
// a NaN without its quiet bit (0x200), clear the quiet bit (0x00400000) of
// f. Y14..Y12 hold 0x7fff, 0x7c00 and 0x00400000; h is overwritten and t is
// scratch.
#define F16FIX(h, f, t) \
	VPSLLD   $13, h, t \
	VPANDN   Y12, t, t \
	VPAND    Y14, h, h \
	VPCMPGTD Y13, h, h \
	VPAND    h, t, t   \
	VPXOR    t, f, f

// func decodeF16AVX2(dst []float32, src []uint16)
//
// Weights hold no Infs or NaNs, so F16FIX runs only on the blocks of 16 that
// have some (all 16 inputs compared with 0x7c00 at once).
TEXT ·decodeF16AVX2(SB), NOSPLIT, $0-48
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         src_base+24(FP), SI
	VPBROADCASTD ·c7fff<>(SB), Y14
	VPBROADCASTD ·c7c00<>(SB), Y13
	VPBROADCASTD ·cquiet<>(SB), Y12
	VPBROADCASTD ·c7c007c00<>(SB), Y11
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           f16dec8

f16dec16:
	VMOVDQU   (SI), Y2
	VPAND     Y11, Y2, Y2
	VPCMPEQW  Y11, Y2, Y2     // exponent all ones: Inf or NaN
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VPTEST    Y2, Y2
	JNZ       f16dec16fix

f16dec16store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $32, SI
	ADDQ    $64, DI
	DECQ    BX
	JNZ     f16dec16
	JMP     f16dec8

f16dec16fix:
	VPMOVZXWD (SI), Y2
	VPMOVZXWD 16(SI), Y3
	F16FIX(Y2, Y0, Y4)
	F16FIX(Y3, Y1, Y5)
	JMP       f16dec16store

f16dec8:
	TESTQ     $8, CX
	JZ        f16decdone
	VCVTPH2PS (SI), Y0
	VPMOVZXWD (SI), Y2
	F16FIX(Y2, Y0, Y4)
	VMOVUPS   Y0, (DI)

f16decdone:
	VZEROUPPER
	RET

// func encodeF16AVX2(dst []uint16, src []float32)
TEXT ·encodeF16AVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   f16enc8

f16enc32:
	VMOVUPS   (SI), Y0
	VMOVUPS   32(SI), Y1
	VMOVUPS   64(SI), Y2
	VMOVUPS   96(SI), Y3
	VCVTPS2PH $0, Y0, X0     // imm8 0: round to nearest even
	VCVTPS2PH $0, Y1, X1
	VCVTPS2PH $0, Y2, X2
	VCVTPS2PH $0, Y3, X3
	VMOVDQU   X0, (DI)
	VMOVDQU   X1, 16(DI)
	VMOVDQU   X2, 32(DI)
	VMOVDQU   X3, 48(DI)
	ADDQ      $128, SI
	ADDQ      $64, DI
	DECQ      BX
	JNZ       f16enc32

f16enc8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   f16encdone

f16enc8loop:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X0
	VMOVDQU   X0, (DI)
	ADDQ      $32, SI
	ADDQ      $16, DI
	DECQ      CX
	JNZ       f16enc8loop

f16encdone:
	VZEROUPPER
	RET

// func roundF16AVX2(x []float32)
TEXT ·roundF16AVX2(SB), NOSPLIT, $0-24
	MOVQ x_base+0(FP), DI
	MOVQ x_len+8(FP), CX
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   f16round8

f16round32:
	VMOVUPS   (DI), Y0
	VMOVUPS   32(DI), Y1
	VMOVUPS   64(DI), Y2
	VMOVUPS   96(DI), Y3
	VCVTPS2PH $0, Y0, X0
	VCVTPS2PH $0, Y1, X1
	VCVTPS2PH $0, Y2, X2
	VCVTPS2PH $0, Y3, X3
	VCVTPH2PS X0, Y0
	VCVTPH2PS X1, Y1
	VCVTPH2PS X2, Y2
	VCVTPH2PS X3, Y3
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	VMOVUPS   Y2, 64(DI)
	VMOVUPS   Y3, 96(DI)
	ADDQ      $128, DI
	DECQ      BX
	JNZ       f16round32

f16round8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   f16rounddone

f16round8loop:
	VMOVUPS   (DI), Y0
	VCVTPS2PH $0, Y0, X0
	VCVTPH2PS X0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, DI
	DECQ      CX
	JNZ       f16round8loop

f16rounddone:
	VZEROUPPER
	RET

// func axpyAVX2(dst []float32, a float32, x []float32)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	VBROADCASTSS a+24(FP), Y8
	MOVQ         x_base+32(FP), SI
	MOVQ         CX, BX
	SHRQ         $5, BX
	JZ           axpy8

axpy32:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMULPS  Y8, Y0, Y0      // x*a
	VMULPS  Y8, Y1, Y1
	VMULPS  Y8, Y2, Y2
	VMULPS  Y8, Y3, Y3
	VADDPS  (DI), Y0, Y0    // (x*a)+dst
	VADDPS  32(DI), Y1, Y1
	VADDPS  64(DI), Y2, Y2
	VADDPS  96(DI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    BX
	JNZ     axpy32

axpy8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   axpydone

axpy8loop:
	VMOVUPS (SI), Y0
	VMULPS  Y8, Y0, Y0
	VADDPS  (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     axpy8loop

axpydone:
	VZEROUPPER
	RET

// func scaleAVX2(dst []float32, a float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-28
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	VBROADCASTSS a+24(FP), Y8
	MOVQ         CX, BX
	SHRQ         $5, BX
	JZ           scale8

scale32:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMULPS  Y8, Y0, Y0      // dst*a
	VMULPS  Y8, Y1, Y1
	VMULPS  Y8, Y2, Y2
	VMULPS  Y8, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	DECQ    BX
	JNZ     scale32

scale8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   scaledone

scale8loop:
	VMOVUPS (DI), Y0
	VMULPS  Y8, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     scale8loop

scaledone:
	VZEROUPPER
	RET

// func addAVX2(dst, x []float32)
TEXT ·addAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   add8

add32:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0    // dst+x
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    BX
	JNZ     add32

add8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   adddone

add8loop:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     add8loop

adddone:
	VZEROUPPER
	RET

// func subAVX2(dst, a, b []float32)
TEXT ·subAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   sub8

sub32:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VSUBPS  (DX), Y0, Y0    // a-b
	VSUBPS  32(DX), Y1, Y1
	VSUBPS  64(DX), Y2, Y2
	VSUBPS  96(DX), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DX
	ADDQ    $128, DI
	DECQ    BX
	JNZ     sub32

sub8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   subdone

sub8loop:
	VMOVUPS (SI), Y0
	VSUBPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sub8loop

subdone:
	VZEROUPPER
	RET

// SUM4 adds the four accumulators Y8..Y11 lane by lane and then across,
// leaving the float64 total in X8.
#define SUM4 \
	VADDPD       Y9, Y8, Y8   \
	VADDPD       Y11, Y10, Y10 \
	VADDPD       Y10, Y8, Y8  \
	VEXTRACTF128 $1, Y8, X9   \
	VADDPD       X9, X8, X8   \
	VUNPCKHPD    X8, X8, X9   \
	VADDSD       X9, X8, X8

// func dotAVX2(a, b []float32) float64
TEXT ·dotAVX2(SB), NOSPLIT, $0-56
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DI
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	MOVQ   CX, BX
	SHRQ   $4, BX
	JZ     dot4

dot16:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD 32(SI), Y2
	VCVTPS2PD 48(SI), Y3
	VCVTPS2PD (DI), Y4
	VCVTPS2PD 16(DI), Y5
	VCVTPS2PD 32(DI), Y6
	VCVTPS2PD 48(DI), Y7
	VMULPD    Y4, Y0, Y0      // exact: 24+24 bits fit in 53
	VMULPD    Y5, Y1, Y1
	VMULPD    Y6, Y2, Y2
	VMULPD    Y7, Y3, Y3
	VADDPD    Y0, Y8, Y8
	VADDPD    Y1, Y9, Y9
	VADDPD    Y2, Y10, Y10
	VADDPD    Y3, Y11, Y11
	ADDQ      $64, SI
	ADDQ      $64, DI
	DECQ      BX
	JNZ       dot16

dot4:
	ANDQ $15, CX
	SHRQ $2, CX
	JZ   dotdone

dot4loop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD (DI), Y4
	VMULPD    Y4, Y0, Y0
	VADDPD    Y0, Y8, Y8
	ADDQ      $16, SI
	ADDQ      $16, DI
	DECQ      CX
	JNZ       dot4loop

dotdone:
	SUM4
	VMOVSD X8, ret+48(FP)
	VZEROUPPER
	RET

// func sumAbsAVX2(x []float32) float64
TEXT ·sumAbsAVX2(SB), NOSPLIT, $0-32
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSD ·cabs64<>(SB), Y12
	VXORPD       Y8, Y8, Y8
	VXORPD       Y9, Y9, Y9
	VXORPD       Y10, Y10, Y10
	VXORPD       Y11, Y11, Y11
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           abs4

abs16:
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
	DECQ      BX
	JNZ       abs16

abs4:
	ANDQ $15, CX
	SHRQ $2, CX
	JZ   absdone

abs4loop:
	VCVTPS2PD (SI), Y0
	VANDPD    Y12, Y0, Y0
	VADDPD    Y0, Y8, Y8
	ADDQ      $16, SI
	DECQ      CX
	JNZ       abs4loop

absdone:
	SUM4
	VMOVSD X8, ret+24(FP)
	VZEROUPPER
	RET

// func sumSquaresAVX2(x []float32) float64
TEXT ·sumSquaresAVX2(SB), NOSPLIT, $0-32
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	MOVQ   CX, BX
	SHRQ   $4, BX
	JZ     sq4

sq16:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD 32(SI), Y2
	VCVTPS2PD 48(SI), Y3
	VMULPD    Y0, Y0, Y0
	VMULPD    Y1, Y1, Y1
	VMULPD    Y2, Y2, Y2
	VMULPD    Y3, Y3, Y3
	VADDPD    Y0, Y8, Y8
	VADDPD    Y1, Y9, Y9
	VADDPD    Y2, Y10, Y10
	VADDPD    Y3, Y11, Y11
	ADDQ      $64, SI
	DECQ      BX
	JNZ       sq16

sq4:
	ANDQ $15, CX
	SHRQ $2, CX
	JZ   sqdone

sq4loop:
	VCVTPS2PD (SI), Y0
	VMULPD    Y0, Y0, Y0
	VADDPD    Y0, Y8, Y8
	ADDQ      $16, SI
	DECQ      CX
	JNZ       sq4loop

sqdone:
	SUM4
	VMOVSD X8, ret+24(FP)
	VZEROUPPER
	RET

// func addAgreeingAVX2(sum, weight, x, sign []float32, w float32)
TEXT ·addAgreeingAVX2(SB), NOSPLIT, $0-100
	MOVQ         sum_base+0(FP), DI
	MOVQ         sum_len+8(FP), CX
	MOVQ         weight_base+24(FP), R8
	MOVQ         x_base+48(FP), SI
	MOVQ         sign_base+72(FP), DX
	VBROADCASTSS w+96(FP), Y8
	VXORPS       Y9, Y9, Y9
	SHRQ         $3, CX
	JZ           agdone

agloop:
	VMOVUPS (SI), Y0         // x
	VMOVUPS (DX), Y6         // sign
	VCMPPS  $1, Y9, Y0, Y1   // x < 0
	VCMPPS  $1, Y9, Y6, Y7   // sign < 0 (a zero of either sign elects +)
	VXORPS  Y7, Y1, Y1       // all ones where they differ
	VCMPPS  $4, Y9, Y0, Y2   // all ones where x != 0 (NEQ_UQ)
	VANDNPS Y2, Y1, Y3       // agree = nonzero &^ differ
	VANDPS  Y0, Y3, Y4       // x where it agrees, else +0
	VADDPS  (DI), Y4, Y4
	VMOVUPS Y4, (DI)
	VANDPS  Y8, Y3, Y5       // w where it agrees, else +0
	VADDPS  (R8), Y5, Y5
	VMOVUPS Y5, (R8)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	ADDQ    $32, R8
	DECQ    CX
	JNZ     agloop

agdone:
	VZEROUPPER
	RET

// func divNonZeroAVX2(dst, div []float32)
TEXT ·divNonZeroAVX2(SB), NOSPLIT, $0-48
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         div_base+24(FP), SI
	VXORPS       Y9, Y9, Y9
	MOVL         $0x3f800000, AX
	MOVL         AX, X8
	VBROADCASTSS X8, Y8      // 1.0
	SHRQ         $3, CX
	JZ           dzdone

dzloop:
	VMOVUPS   (SI), Y0
	VCMPPS    $0, Y9, Y0, Y1   // div == 0
	VBLENDVPS Y1, Y8, Y0, Y2   // 1 where div is zero, else div
	VMOVUPS   (DI), Y3
	VDIVPS    Y2, Y3, Y3
	VMOVUPS   Y3, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       dzloop

dzdone:
	VZEROUPPER
	RET

// func keepBelowAVX2(x []float32, draws []uint32, bound uint32) int
TEXT ·keepBelowAVX2(SB), NOSPLIT, $0-64
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	MOVQ         draws_base+24(FP), SI
	MOVL         bound+48(FP), AX
	XORL         $0x80000000, AX
	MOVQ         AX, X8
	VPBROADCASTD X8, Y8      // bound with the top bit flipped
	MOVL         $0x80000000, AX
	MOVQ         AX, X9
	VPBROADCASTD X9, Y9      // the top bit
	XORQ         R9, R9      // kept
	SHRQ         $3, CX
	JZ           kbdone

kbloop:
	VPXOR      (SI), Y9, Y0  // draws with the top bit flipped
	VPCMPGTD   Y0, Y8, Y1    // bound > draw, signed on flipped = unsigned
	VANDPS     (DI), Y1, Y2
	VMOVUPS    Y2, (DI)
	VMOVMSKPS  Y1, AX
	POPCNTL    AX, AX
	ADDQ       AX, R9
	ADDQ       $32, SI
	ADDQ       $32, DI
	DECQ       CX
	JNZ        kbloop

kbdone:
	MOVQ R9, ret+56(FP)
	VZEROUPPER
	RET

// func divScalarAVX2(dst []float32, d float32)
TEXT ·divScalarAVX2(SB), NOSPLIT, $0-28
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	VBROADCASTSS d+24(FP), Y8
	SHRQ         $3, CX
	JZ           dsdone

dsloop:
	VMOVUPS (DI), Y0
	VDIVPS  Y8, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     dsloop

dsdone:
	VZEROUPPER
	RET

// The fused kernels: the float32 operation of Sub, Scale, Axpy's product,
// DivScalar or DivNonZero, in the operand order of the gc compiler's code
// for the *Generic references, then BF16ROUNDF or the binary16 round trip
// of roundF16AVX2 (VCVTPS2PH, VCVTPH2PS), and for axpyRound the add of
// rounded product and accumulator.

// func subRoundBF16AVX2(dst, a, b []float32)
//
// a-b, then rounded to BF16.
TEXT ·subRoundBF16AVX2(SB), NOSPLIT, $0-72
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         b_base+48(FP), DX
	VPBROADCASTD ·c7fff<>(SB), Y14
	VPBROADCASTD ·c1<>(SB), Y13
	VPBROADCASTD ·chigh<>(SB), Y12
	VPBROADCASTD ·cabs<>(SB), Y11
	VPBROADCASTD ·cinf<>(SB), Y10
	VPBROADCASTD ·cquiet<>(SB), Y9
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           subRoundBF16Tail
subRoundBF16Loop:
	VMOVUPS      (SI), Y0
	VSUBPS       (DX), Y0, Y0
	VMOVUPS      32(SI), Y1
	VSUBPS       32(DX), Y1, Y1
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	BF16ROUNDF(Y1, Y3, Y6, Y7)
	VMOVUPS      Y2, (DI)
	VMOVUPS      Y3, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DX
	ADDQ         $64, DI
	DECQ         BX
	JNZ          subRoundBF16Loop
subRoundBF16Tail:
	TESTQ        $8, CX
	JZ           subRoundBF16Done
	VMOVUPS      (SI), Y0
	VSUBPS       (DX), Y0, Y0
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	VMOVUPS      Y2, (DI)
subRoundBF16Done:
	VZEROUPPER
	RET

// func subRoundF16AVX2(dst, a, b []float32)
//
// a-b, then rounded to F16.
TEXT ·subRoundF16AVX2(SB), NOSPLIT, $0-72
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         b_base+48(FP), DX
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           subRoundF16Tail
subRoundF16Loop:
	VMOVUPS      (SI), Y0
	VSUBPS       (DX), Y0, Y0
	VMOVUPS      32(SI), Y1
	VSUBPS       32(DX), Y1, Y1
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VCVTPS2PH    $0, Y1, X1
	VCVTPH2PS    X1, Y1
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DX
	ADDQ         $64, DI
	DECQ         BX
	JNZ          subRoundF16Loop
subRoundF16Tail:
	TESTQ        $8, CX
	JZ           subRoundF16Done
	VMOVUPS      (SI), Y0
	VSUBPS       (DX), Y0, Y0
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VMOVUPS      Y0, (DI)
subRoundF16Done:
	VZEROUPPER
	RET

// func scaleRoundBF16AVX2(x []float32, a float32)
//
// x*a, then rounded to BF16.
TEXT ·scaleRoundBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS a+24(FP), Y8
	VPBROADCASTD ·c7fff<>(SB), Y14
	VPBROADCASTD ·c1<>(SB), Y13
	VPBROADCASTD ·chigh<>(SB), Y12
	VPBROADCASTD ·cabs<>(SB), Y11
	VPBROADCASTD ·cinf<>(SB), Y10
	VPBROADCASTD ·cquiet<>(SB), Y9
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           scaleRoundBF16Tail
scaleRoundBF16Loop:
	VMOVUPS      (DI), Y0
	VMULPS       Y8, Y0, Y0
	VMOVUPS      32(DI), Y1
	VMULPS       Y8, Y1, Y1
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	BF16ROUNDF(Y1, Y3, Y6, Y7)
	VMOVUPS      Y2, (DI)
	VMOVUPS      Y3, 32(DI)
	ADDQ         $64, DI
	DECQ         BX
	JNZ          scaleRoundBF16Loop
scaleRoundBF16Tail:
	TESTQ        $8, CX
	JZ           scaleRoundBF16Done
	VMOVUPS      (DI), Y0
	VMULPS       Y8, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	VMOVUPS      Y2, (DI)
scaleRoundBF16Done:
	VZEROUPPER
	RET

// func scaleRoundF16AVX2(x []float32, a float32)
//
// a*x, then rounded to F16.
TEXT ·scaleRoundF16AVX2(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS a+24(FP), Y8
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           scaleRoundF16Tail
scaleRoundF16Loop:
	VMOVUPS      (DI), Y0
	VMULPS       Y0, Y8, Y0
	VMOVUPS      32(DI), Y1
	VMULPS       Y1, Y8, Y1
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VCVTPS2PH    $0, Y1, X1
	VCVTPH2PS    X1, Y1
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	ADDQ         $64, DI
	DECQ         BX
	JNZ          scaleRoundF16Loop
scaleRoundF16Tail:
	TESTQ        $8, CX
	JZ           scaleRoundF16Done
	VMOVUPS      (DI), Y0
	VMULPS       Y0, Y8, Y0
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VMOVUPS      Y0, (DI)
scaleRoundF16Done:
	VZEROUPPER
	RET

// func axpyRoundBF16AVX2(acc []float32, w float32, x []float32)
//
// x*w, rounded, +acc, then rounded to BF16.
TEXT ·axpyRoundBF16AVX2(SB), NOSPLIT, $0-56
	MOVQ         acc_base+0(FP), DI
	MOVQ         acc_len+8(FP), CX
	VBROADCASTSS w+24(FP), Y8
	MOVQ         x_base+32(FP), SI
	VPBROADCASTD ·c7fff<>(SB), Y14
	VPBROADCASTD ·c1<>(SB), Y13
	VPBROADCASTD ·chigh<>(SB), Y12
	VPBROADCASTD ·cabs<>(SB), Y11
	VPBROADCASTD ·cinf<>(SB), Y10
	VPBROADCASTD ·cquiet<>(SB), Y9
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           axpyRoundBF16Tail
axpyRoundBF16Loop:
	VMOVUPS      (SI), Y0
	VMULPS       Y8, Y0, Y0
	VMOVUPS      32(SI), Y1
	VMULPS       Y8, Y1, Y1
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	BF16ROUNDF(Y1, Y3, Y6, Y7)
	VADDPS       (DI), Y2, Y2
	VMOVUPS      Y2, (DI)
	VADDPS       32(DI), Y3, Y3
	VMOVUPS      Y3, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	DECQ         BX
	JNZ          axpyRoundBF16Loop
axpyRoundBF16Tail:
	TESTQ        $8, CX
	JZ           axpyRoundBF16Done
	VMOVUPS      (SI), Y0
	VMULPS       Y8, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	VADDPS       (DI), Y2, Y2
	VMOVUPS      Y2, (DI)
axpyRoundBF16Done:
	VZEROUPPER
	RET

// func axpyRoundF16AVX2(acc []float32, w float32, x []float32)
//
// w*x, rounded, +acc, then rounded to F16.
TEXT ·axpyRoundF16AVX2(SB), NOSPLIT, $0-56
	MOVQ         acc_base+0(FP), DI
	MOVQ         acc_len+8(FP), CX
	VBROADCASTSS w+24(FP), Y8
	MOVQ         x_base+32(FP), SI
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           axpyRoundF16Tail
axpyRoundF16Loop:
	VMOVUPS      (SI), Y0
	VMULPS       Y0, Y8, Y0
	VMOVUPS      32(SI), Y1
	VMULPS       Y1, Y8, Y1
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VCVTPS2PH    $0, Y1, X1
	VCVTPH2PS    X1, Y1
	VADDPS       (DI), Y0, Y0
	VMOVUPS      Y0, (DI)
	VADDPS       32(DI), Y1, Y1
	VMOVUPS      Y1, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	DECQ         BX
	JNZ          axpyRoundF16Loop
axpyRoundF16Tail:
	TESTQ        $8, CX
	JZ           axpyRoundF16Done
	VMOVUPS      (SI), Y0
	VMULPS       Y0, Y8, Y0
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VADDPS       (DI), Y0, Y0
	VMOVUPS      Y0, (DI)
axpyRoundF16Done:
	VZEROUPPER
	RET

// func divScalarRoundBF16AVX2(x []float32, d float32)
//
// x/d, then rounded to BF16.
TEXT ·divScalarRoundBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS d+24(FP), Y8
	VPBROADCASTD ·c7fff<>(SB), Y14
	VPBROADCASTD ·c1<>(SB), Y13
	VPBROADCASTD ·chigh<>(SB), Y12
	VPBROADCASTD ·cabs<>(SB), Y11
	VPBROADCASTD ·cinf<>(SB), Y10
	VPBROADCASTD ·cquiet<>(SB), Y9
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           divScalarRoundBF16Tail
divScalarRoundBF16Loop:
	VMOVUPS      (DI), Y0
	VDIVPS       Y8, Y0, Y0
	VMOVUPS      32(DI), Y1
	VDIVPS       Y8, Y1, Y1
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	BF16ROUNDF(Y1, Y3, Y6, Y7)
	VMOVUPS      Y2, (DI)
	VMOVUPS      Y3, 32(DI)
	ADDQ         $64, DI
	DECQ         BX
	JNZ          divScalarRoundBF16Loop
divScalarRoundBF16Tail:
	TESTQ        $8, CX
	JZ           divScalarRoundBF16Done
	VMOVUPS      (DI), Y0
	VDIVPS       Y8, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	VMOVUPS      Y2, (DI)
divScalarRoundBF16Done:
	VZEROUPPER
	RET

// func divScalarRoundF16AVX2(x []float32, d float32)
//
// x/d, then rounded to F16.
TEXT ·divScalarRoundF16AVX2(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS d+24(FP), Y8
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           divScalarRoundF16Tail
divScalarRoundF16Loop:
	VMOVUPS      (DI), Y0
	VDIVPS       Y8, Y0, Y0
	VMOVUPS      32(DI), Y1
	VDIVPS       Y8, Y1, Y1
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VCVTPS2PH    $0, Y1, X1
	VCVTPH2PS    X1, Y1
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	ADDQ         $64, DI
	DECQ         BX
	JNZ          divScalarRoundF16Loop
divScalarRoundF16Tail:
	TESTQ        $8, CX
	JZ           divScalarRoundF16Done
	VMOVUPS      (DI), Y0
	VDIVPS       Y8, Y0, Y0
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VMOVUPS      Y0, (DI)
divScalarRoundF16Done:
	VZEROUPPER
	RET

// func divNonZeroRoundBF16AVX2(dst, div []float32)
//
// dst/(div, or 1 where div is ±0), then rounded to BF16.
TEXT ·divNonZeroRoundBF16AVX2(SB), NOSPLIT, $0-48
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         div_base+24(FP), SI
	VXORPS       Y15, Y15, Y15
	MOVL         $0x3f800000, AX
	MOVL         AX, X8
	VBROADCASTSS X8, Y8
	VPBROADCASTD ·c7fff<>(SB), Y14
	VPBROADCASTD ·c1<>(SB), Y13
	VPBROADCASTD ·chigh<>(SB), Y12
	VPBROADCASTD ·cabs<>(SB), Y11
	VPBROADCASTD ·cinf<>(SB), Y10
	VPBROADCASTD ·cquiet<>(SB), Y9
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           divNonZeroRoundBF16Tail
divNonZeroRoundBF16Loop:
	VMOVUPS      (SI), Y2
	VCMPPS       $0, Y15, Y2, Y4
	VBLENDVPS    Y4, Y8, Y2, Y2
	VMOVUPS      (DI), Y0
	VDIVPS       Y2, Y0, Y0
	VMOVUPS      32(SI), Y3
	VCMPPS       $0, Y15, Y3, Y6
	VBLENDVPS    Y6, Y8, Y3, Y3
	VMOVUPS      32(DI), Y1
	VDIVPS       Y3, Y1, Y1
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	BF16ROUNDF(Y1, Y3, Y6, Y7)
	VMOVUPS      Y2, (DI)
	VMOVUPS      Y3, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	DECQ         BX
	JNZ          divNonZeroRoundBF16Loop
divNonZeroRoundBF16Tail:
	TESTQ        $8, CX
	JZ           divNonZeroRoundBF16Done
	VMOVUPS      (SI), Y2
	VCMPPS       $0, Y15, Y2, Y4
	VBLENDVPS    Y4, Y8, Y2, Y2
	VMOVUPS      (DI), Y0
	VDIVPS       Y2, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	VMOVUPS      Y2, (DI)
divNonZeroRoundBF16Done:
	VZEROUPPER
	RET

// func divNonZeroRoundF16AVX2(dst, div []float32)
//
// dst/(div, or 1 where div is ±0), then rounded to F16.
TEXT ·divNonZeroRoundF16AVX2(SB), NOSPLIT, $0-48
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         div_base+24(FP), SI
	VXORPS       Y15, Y15, Y15
	MOVL         $0x3f800000, AX
	MOVL         AX, X8
	VBROADCASTSS X8, Y8
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           divNonZeroRoundF16Tail
divNonZeroRoundF16Loop:
	VMOVUPS      (SI), Y2
	VCMPPS       $0, Y15, Y2, Y4
	VBLENDVPS    Y4, Y8, Y2, Y2
	VMOVUPS      (DI), Y0
	VDIVPS       Y2, Y0, Y0
	VMOVUPS      32(SI), Y3
	VCMPPS       $0, Y15, Y3, Y6
	VBLENDVPS    Y6, Y8, Y3, Y3
	VMOVUPS      32(DI), Y1
	VDIVPS       Y3, Y1, Y1
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VCVTPS2PH    $0, Y1, X1
	VCVTPH2PS    X1, Y1
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	DECQ         BX
	JNZ          divNonZeroRoundF16Loop
divNonZeroRoundF16Tail:
	TESTQ        $8, CX
	JZ           divNonZeroRoundF16Done
	VMOVUPS      (SI), Y2
	VCMPPS       $0, Y15, Y2, Y4
	VBLENDVPS    Y4, Y8, Y2, Y2
	VMOVUPS      (DI), Y0
	VDIVPS       Y2, Y0, Y0
	VCVTPS2PH    $0, Y0, X0
	VCVTPH2PS    X0, Y0
	VMOVUPS      Y0, (DI)
divNonZeroRoundF16Done:
	VZEROUPPER
	RET

// func pruneMagnitudeAVX2(x []float32, thr uint32, ties int) (done, left int)
//
// Keeps the lanes whose magnitude bits (VPAND 0x7fffffff) are above thr
// (VPCMPGTD: both are below 2^31, so the signed compare is the unsigned
// one) and clears the others. A vector with lanes equal to thr keeps them
// all when ties covers them and drops them all when ties is 0; otherwise
// it stops there and returns how many elements it has done, for the caller
// to finish that vector in Go.
TEXT ·pruneMagnitudeAVX2(SB), NOSPLIT, $0-56
	MOVQ         x_base+0(FP), DI
	MOVQ         x_len+8(FP), CX
	MOVL         thr+24(FP), AX
	MOVQ         AX, X8
	VPBROADCASTD X8, Y8
	VPBROADCASTD ·cabs<>(SB), Y11
	MOVQ         ties+32(FP), R9
	XORQ         R10, R10        // done
	SHRQ         $3, CX
	JZ           pmDone

pmLoop:
	VMOVDQU  (DI), Y0
	VPAND    Y11, Y0, Y1     // u
	VPCMPGTD Y8, Y1, Y2      // u > thr
	VPCMPEQD Y8, Y1, Y3      // u == thr
	VPTEST   Y3, Y3
	JNZ      pmTies

pmStore:
	VPAND   Y0, Y2, Y0
	VMOVDQU Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $8, R10
	DECQ    CX
	JNZ     pmLoop
	JMP     pmDone

pmTies:
	VMOVMSKPS Y3, AX
	POPCNTL   AX, AX
	CMPQ      R9, AX
	JGE       pmKeepAll      // ties >= count
	TESTQ     R9, R9
	JLE       pmStore        // no ties left: drop the equal lanes
	JMP       pmDone         // some but not all: left to the caller

pmKeepAll:
	SUBQ AX, R9
	VPOR Y3, Y2, Y2
	JMP  pmStore

pmDone:
	MOVQ R10, done+40(FP)
	MOVQ R9, left+48(FP)
	VZEROUPPER
	RET

// func countMagnitudeAVX2(x []float32, thr uint32) int
//
// Counts in two vectors of 32-bit lanes (subtracting the all-ones compare
// results) and adds them up at the end; the caller keeps len(x) below 2^32.
TEXT ·countMagnitudeAVX2(SB), NOSPLIT, $0-40
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	MOVL         thr+24(FP), AX
	MOVQ         AX, X8
	VPBROADCASTD X8, Y8
	VPBROADCASTD ·cabs<>(SB), Y11
	VPXOR        Y4, Y4, Y4
	VPXOR        Y5, Y5, Y5
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           cmTail

cmLoop:
	VPAND    (SI), Y11, Y0
	VPAND    32(SI), Y11, Y1
	VPCMPEQD Y8, Y0, Y0
	VPCMPEQD Y8, Y1, Y1
	VPSUBD   Y0, Y4, Y4
	VPSUBD   Y1, Y5, Y5
	ADDQ     $64, SI
	DECQ     BX
	JNZ      cmLoop

cmTail:
	TESTQ    $8, CX
	JZ       cmSum
	VPAND    (SI), Y11, Y0
	VPCMPEQD Y8, Y0, Y0
	VPSUBD   Y0, Y4, Y4

cmSum:
	VPADDD       Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	VMOVD        X4, AX
	MOVQ         AX, ret+32(FP)
	VZEROUPPER
	RET

// SplitMix64. The table holds, 4 lanes each: each multiplier of the
// output function and the same with its 32-bit halves swapped, the counter
// steps for 16 and 4 draws, i*golden for the lanes i = 0..15 of the first
// iteration, and a mask of the upper halves.
DATA ·splitmix<>+0(SB)/8, $0xbf58476d1ce4e5b9
DATA ·splitmix<>+8(SB)/8, $0xbf58476d1ce4e5b9
DATA ·splitmix<>+16(SB)/8, $0xbf58476d1ce4e5b9
DATA ·splitmix<>+24(SB)/8, $0xbf58476d1ce4e5b9
DATA ·splitmix<>+32(SB)/8, $0x1ce4e5b9bf58476d
DATA ·splitmix<>+40(SB)/8, $0x1ce4e5b9bf58476d
DATA ·splitmix<>+48(SB)/8, $0x1ce4e5b9bf58476d
DATA ·splitmix<>+56(SB)/8, $0x1ce4e5b9bf58476d
DATA ·splitmix<>+64(SB)/8, $0x94d049bb133111eb
DATA ·splitmix<>+72(SB)/8, $0x94d049bb133111eb
DATA ·splitmix<>+80(SB)/8, $0x94d049bb133111eb
DATA ·splitmix<>+88(SB)/8, $0x94d049bb133111eb
DATA ·splitmix<>+96(SB)/8, $0x133111eb94d049bb
DATA ·splitmix<>+104(SB)/8, $0x133111eb94d049bb
DATA ·splitmix<>+112(SB)/8, $0x133111eb94d049bb
DATA ·splitmix<>+120(SB)/8, $0x133111eb94d049bb
DATA ·splitmix<>+128(SB)/8, $0xe3779b97f4a7c150
DATA ·splitmix<>+136(SB)/8, $0xe3779b97f4a7c150
DATA ·splitmix<>+144(SB)/8, $0xe3779b97f4a7c150
DATA ·splitmix<>+152(SB)/8, $0xe3779b97f4a7c150
DATA ·splitmix<>+160(SB)/8, $0x78dde6e5fd29f054
DATA ·splitmix<>+168(SB)/8, $0x78dde6e5fd29f054
DATA ·splitmix<>+176(SB)/8, $0x78dde6e5fd29f054
DATA ·splitmix<>+184(SB)/8, $0x78dde6e5fd29f054
DATA ·splitmix<>+192(SB)/8, $0x0000000000000000
DATA ·splitmix<>+200(SB)/8, $0x9e3779b97f4a7c15
DATA ·splitmix<>+208(SB)/8, $0x3c6ef372fe94f82a
DATA ·splitmix<>+216(SB)/8, $0xdaa66d2c7ddf743f
DATA ·splitmix<>+224(SB)/8, $0x78dde6e5fd29f054
DATA ·splitmix<>+232(SB)/8, $0x1715609f7c746c69
DATA ·splitmix<>+240(SB)/8, $0xb54cda58fbbee87e
DATA ·splitmix<>+248(SB)/8, $0x538454127b096493
DATA ·splitmix<>+256(SB)/8, $0xf1bbcdcbfa53e0a8
DATA ·splitmix<>+264(SB)/8, $0x8ff34785799e5cbd
DATA ·splitmix<>+272(SB)/8, $0x2e2ac13ef8e8d8d2
DATA ·splitmix<>+280(SB)/8, $0xcc623af8783354e7
DATA ·splitmix<>+288(SB)/8, $0x6a99b4b1f77dd0fc
DATA ·splitmix<>+296(SB)/8, $0x08d12e6b76c84d11
DATA ·splitmix<>+304(SB)/8, $0xa708a824f612c926
DATA ·splitmix<>+312(SB)/8, $0x454021de755d453b
DATA ·splitmix<>+320(SB)/8, $0xffffffff00000000
DATA ·splitmix<>+328(SB)/8, $0xffffffff00000000
DATA ·splitmix<>+336(SB)/8, $0xffffffff00000000
DATA ·splitmix<>+344(SB)/8, $0xffffffff00000000
GLOBL ·splitmix<>(SB), RODATA|NOPTR, $352

// SMMUL multiplies the lanes of z by the constant c modulo 2^64, as
// lo·lo + (lo·hi + hi·lo)<<32 of the 32-bit halves. VPMULUDQ makes lo·lo;
// one VPMULLD by cs, c with its halves swapped, makes both cross products
// (mod 2^32), lo·hi in the lower half of a lane and hi·lo in the upper;
// their sum lands in the upper half as (a<<32) + (a & upper-half mask).
// This is 6 instructions to the 7 of three VPMULUDQ, and 19% faster on
// Zen 5 (on Intel cores VPMULLD takes 2 µops, so it may not be).
#define SMMUL(z, a, b, c, cs) \
	VPMULLD  cs, z, a      \
	VPMULUDQ c, z, z       \
	VPSLLQ   $32, a, b     \
	VPAND    320(R8), a, a \
	VPADDQ   b, z, z       \
	VPADDQ   a, z, z

// SPLITMIX sets z to the output function of the states s; a and b are
// scratch.
#define SPLITMIX(s, z, a, b) \
	VPSRLQ $30, s, a                     \
	VPXOR  a, s, z                       \
	SMMUL(z, a, b, 0(R8), 32(R8))        \
	VPSRLQ $27, z, a                     \
	VPXOR  a, z, z                       \
	SMMUL(z, a, b, 64(R8), 96(R8))       \
	VPSRLQ $31, z, a                     \
	VPXOR  a, z, z

// func splitMix64AVX2(dst []uint64, state uint64)
//
// The main loop makes 16 draws in 4 independent registers, which hides the
// latency of the multiplies; then 4 at a time.
TEXT ·splitMix64AVX2(SB), NOSPLIT, $0-32
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	LEAQ         ·splitmix<>(SB), R8
	VPBROADCASTQ state+24(FP), Y4
	VPADDQ       192(R8), Y4, Y0     // states of draws 0-3
	VPADDQ       224(R8), Y4, Y1     // 4-7
	VPADDQ       256(R8), Y4, Y2     // 8-11
	VPADDQ       288(R8), Y4, Y3     // 12-15
	MOVQ         CX, BX
	SHRQ         $4, BX
	JZ           sm4

sm16loop:
	SPLITMIX(Y0, Y4, Y8, Y12)
	SPLITMIX(Y1, Y5, Y9, Y13)
	SPLITMIX(Y2, Y6, Y10, Y14)
	SPLITMIX(Y3, Y7, Y11, Y15)
	VPADDQ  128(R8), Y0, Y0
	VPADDQ  128(R8), Y1, Y1
	VPADDQ  128(R8), Y2, Y2
	VPADDQ  128(R8), Y3, Y3
	VMOVDQU Y4, (DI)
	VMOVDQU Y5, 32(DI)
	VMOVDQU Y6, 64(DI)
	VMOVDQU Y7, 96(DI)
	ADDQ    $128, DI
	DECQ    BX
	JNZ     sm16loop

sm4:
	ANDQ $15, CX
	SHRQ $2, CX
	JZ   smdone

sm4loop:
	SPLITMIX(Y0, Y4, Y8, Y12)
	VPADDQ  160(R8), Y0, Y0
	VMOVDQU Y4, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sm4loop

smdone:
	VZEROUPPER
	RET

// i*golden for the lanes i = 0..7 of a ZMM register.
DATA ·splitmix512<>+0(SB)/8, $0x0000000000000000
DATA ·splitmix512<>+8(SB)/8, $0x9e3779b97f4a7c15
DATA ·splitmix512<>+16(SB)/8, $0x3c6ef372fe94f82a
DATA ·splitmix512<>+24(SB)/8, $0xdaa66d2c7ddf743f
DATA ·splitmix512<>+32(SB)/8, $0x78dde6e5fd29f054
DATA ·splitmix512<>+40(SB)/8, $0x1715609f7c746c69
DATA ·splitmix512<>+48(SB)/8, $0xb54cda58fbbee87e
DATA ·splitmix512<>+56(SB)/8, $0x538454127b096493
GLOBL ·splitmix512<>(SB), RODATA|NOPTR, $64

// SPLITMIX512 sets z to the output function of the states s (VPMULLQ
// multiplies by the constants in Z20 and Z21); a is scratch.
#define SPLITMIX512(s, z, a) \
	VPSRLQ  $30, s, a   \
	VPXORQ  a, s, z     \
	VPMULLQ Z20, z, z   \
	VPSRLQ  $27, z, a   \
	VPXORQ  a, z, z     \
	VPMULLQ Z21, z, z   \
	VPSRLQ  $31, z, a   \
	VPXORQ  a, z, z

// func splitMix64AVX512(dst []uint64, state uint64)
//
// 32 draws per iteration in 4 ZMM registers, then 8 at a time.
TEXT ·splitMix64AVX512(SB), NOSPLIT, $0-32
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         $0xbf58476d1ce4e5b9, AX
	VPBROADCASTQ AX, Z20
	MOVQ         $0x94d049bb133111eb, AX
	VPBROADCASTQ AX, Z21
	MOVQ         $0xf1bbcdcbfa53e0a8, AX     // 8*golden
	VPBROADCASTQ AX, Z22
	VPBROADCASTQ state+24(FP), Z4
	VPADDQ       ·splitmix512<>(SB), Z4, Z0 // states of draws 0-7
	VPADDQ       Z22, Z0, Z1                // 8-15
	VPADDQ       Z22, Z1, Z2                // 16-23
	VPADDQ       Z22, Z2, Z3                // 24-31
	MOVQ         $0xe3779b97f4a7c150, AX     // 16*golden
	VPBROADCASTQ AX, Z23
	VPADDQ       Z23, Z23, Z23              // 32*golden
	MOVQ         CX, BX
	SHRQ         $5, BX
	JZ           sz8

sz32loop:
	SPLITMIX512(Z0, Z4, Z8)
	SPLITMIX512(Z1, Z5, Z9)
	SPLITMIX512(Z2, Z6, Z10)
	SPLITMIX512(Z3, Z7, Z11)
	VPADDQ    Z23, Z0, Z0
	VPADDQ    Z23, Z1, Z1
	VPADDQ    Z23, Z2, Z2
	VPADDQ    Z23, Z3, Z3
	VMOVDQU64 Z4, (DI)
	VMOVDQU64 Z5, 64(DI)
	VMOVDQU64 Z6, 128(DI)
	VMOVDQU64 Z7, 192(DI)
	ADDQ      $256, DI
	DECQ      BX
	JNZ       sz32loop

sz8:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   szdone

sz8loop:
	SPLITMIX512(Z0, Z4, Z8)
	VPADDQ    Z22, Z0, Z0
	VMOVDQU64 Z4, (DI)
	ADDQ      $64, DI
	DECQ      CX
	JNZ       sz8loop

szdone:
	VZEROUPPER
	RET
