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

#include "bf16round_amd64.h"

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

// func sumSquaresLanesAVX2(lanes *[16]float64, x []float32)
TEXT ·sumSquaresLanesAVX2(SB), NOSPLIT, $0-32
	MOVQ    lanes+0(FP), DI
	MOVQ    x_base+8(FP), SI
	MOVQ    x_len+16(FP), BX
	VMOVUPD (DI), Y8
	VMOVUPD 32(DI), Y9
	VMOVUPD 64(DI), Y10
	VMOVUPD 96(DI), Y11
	SHRQ    $4, BX
	JZ      sqldone

sqlloop:
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
	JNZ       sqlloop

sqldone:
	VMOVUPD Y8, (DI)
	VMOVUPD Y9, 32(DI)
	VMOVUPD Y10, 64(DI)
	VMOVUPD Y11, 96(DI)
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

// cwPack and cwCount, indexed by the outside mask m of a vector (bit i set
// where lane i is outside the window): the lanes of the clear bits of m in
// ascending order, one byte each (zero-padded), and their number.
DATA ·cwPack<>+0(SB)/8, $0x0706050403020100
DATA ·cwPack<>+8(SB)/8, $0x0007060504030201
DATA ·cwPack<>+16(SB)/8, $0x0007060504030200
DATA ·cwPack<>+24(SB)/8, $0x0000070605040302
DATA ·cwPack<>+32(SB)/8, $0x0007060504030100
DATA ·cwPack<>+40(SB)/8, $0x0000070605040301
DATA ·cwPack<>+48(SB)/8, $0x0000070605040300
DATA ·cwPack<>+56(SB)/8, $0x0000000706050403
DATA ·cwPack<>+64(SB)/8, $0x0007060504020100
DATA ·cwPack<>+72(SB)/8, $0x0000070605040201
DATA ·cwPack<>+80(SB)/8, $0x0000070605040200
DATA ·cwPack<>+88(SB)/8, $0x0000000706050402
DATA ·cwPack<>+96(SB)/8, $0x0000070605040100
DATA ·cwPack<>+104(SB)/8, $0x0000000706050401
DATA ·cwPack<>+112(SB)/8, $0x0000000706050400
DATA ·cwPack<>+120(SB)/8, $0x0000000007060504
DATA ·cwPack<>+128(SB)/8, $0x0007060503020100
DATA ·cwPack<>+136(SB)/8, $0x0000070605030201
DATA ·cwPack<>+144(SB)/8, $0x0000070605030200
DATA ·cwPack<>+152(SB)/8, $0x0000000706050302
DATA ·cwPack<>+160(SB)/8, $0x0000070605030100
DATA ·cwPack<>+168(SB)/8, $0x0000000706050301
DATA ·cwPack<>+176(SB)/8, $0x0000000706050300
DATA ·cwPack<>+184(SB)/8, $0x0000000007060503
DATA ·cwPack<>+192(SB)/8, $0x0000070605020100
DATA ·cwPack<>+200(SB)/8, $0x0000000706050201
DATA ·cwPack<>+208(SB)/8, $0x0000000706050200
DATA ·cwPack<>+216(SB)/8, $0x0000000007060502
DATA ·cwPack<>+224(SB)/8, $0x0000000706050100
DATA ·cwPack<>+232(SB)/8, $0x0000000007060501
DATA ·cwPack<>+240(SB)/8, $0x0000000007060500
DATA ·cwPack<>+248(SB)/8, $0x0000000000070605
DATA ·cwPack<>+256(SB)/8, $0x0007060403020100
DATA ·cwPack<>+264(SB)/8, $0x0000070604030201
DATA ·cwPack<>+272(SB)/8, $0x0000070604030200
DATA ·cwPack<>+280(SB)/8, $0x0000000706040302
DATA ·cwPack<>+288(SB)/8, $0x0000070604030100
DATA ·cwPack<>+296(SB)/8, $0x0000000706040301
DATA ·cwPack<>+304(SB)/8, $0x0000000706040300
DATA ·cwPack<>+312(SB)/8, $0x0000000007060403
DATA ·cwPack<>+320(SB)/8, $0x0000070604020100
DATA ·cwPack<>+328(SB)/8, $0x0000000706040201
DATA ·cwPack<>+336(SB)/8, $0x0000000706040200
DATA ·cwPack<>+344(SB)/8, $0x0000000007060402
DATA ·cwPack<>+352(SB)/8, $0x0000000706040100
DATA ·cwPack<>+360(SB)/8, $0x0000000007060401
DATA ·cwPack<>+368(SB)/8, $0x0000000007060400
DATA ·cwPack<>+376(SB)/8, $0x0000000000070604
DATA ·cwPack<>+384(SB)/8, $0x0000070603020100
DATA ·cwPack<>+392(SB)/8, $0x0000000706030201
DATA ·cwPack<>+400(SB)/8, $0x0000000706030200
DATA ·cwPack<>+408(SB)/8, $0x0000000007060302
DATA ·cwPack<>+416(SB)/8, $0x0000000706030100
DATA ·cwPack<>+424(SB)/8, $0x0000000007060301
DATA ·cwPack<>+432(SB)/8, $0x0000000007060300
DATA ·cwPack<>+440(SB)/8, $0x0000000000070603
DATA ·cwPack<>+448(SB)/8, $0x0000000706020100
DATA ·cwPack<>+456(SB)/8, $0x0000000007060201
DATA ·cwPack<>+464(SB)/8, $0x0000000007060200
DATA ·cwPack<>+472(SB)/8, $0x0000000000070602
DATA ·cwPack<>+480(SB)/8, $0x0000000007060100
DATA ·cwPack<>+488(SB)/8, $0x0000000000070601
DATA ·cwPack<>+496(SB)/8, $0x0000000000070600
DATA ·cwPack<>+504(SB)/8, $0x0000000000000706
DATA ·cwPack<>+512(SB)/8, $0x0007050403020100
DATA ·cwPack<>+520(SB)/8, $0x0000070504030201
DATA ·cwPack<>+528(SB)/8, $0x0000070504030200
DATA ·cwPack<>+536(SB)/8, $0x0000000705040302
DATA ·cwPack<>+544(SB)/8, $0x0000070504030100
DATA ·cwPack<>+552(SB)/8, $0x0000000705040301
DATA ·cwPack<>+560(SB)/8, $0x0000000705040300
DATA ·cwPack<>+568(SB)/8, $0x0000000007050403
DATA ·cwPack<>+576(SB)/8, $0x0000070504020100
DATA ·cwPack<>+584(SB)/8, $0x0000000705040201
DATA ·cwPack<>+592(SB)/8, $0x0000000705040200
DATA ·cwPack<>+600(SB)/8, $0x0000000007050402
DATA ·cwPack<>+608(SB)/8, $0x0000000705040100
DATA ·cwPack<>+616(SB)/8, $0x0000000007050401
DATA ·cwPack<>+624(SB)/8, $0x0000000007050400
DATA ·cwPack<>+632(SB)/8, $0x0000000000070504
DATA ·cwPack<>+640(SB)/8, $0x0000070503020100
DATA ·cwPack<>+648(SB)/8, $0x0000000705030201
DATA ·cwPack<>+656(SB)/8, $0x0000000705030200
DATA ·cwPack<>+664(SB)/8, $0x0000000007050302
DATA ·cwPack<>+672(SB)/8, $0x0000000705030100
DATA ·cwPack<>+680(SB)/8, $0x0000000007050301
DATA ·cwPack<>+688(SB)/8, $0x0000000007050300
DATA ·cwPack<>+696(SB)/8, $0x0000000000070503
DATA ·cwPack<>+704(SB)/8, $0x0000000705020100
DATA ·cwPack<>+712(SB)/8, $0x0000000007050201
DATA ·cwPack<>+720(SB)/8, $0x0000000007050200
DATA ·cwPack<>+728(SB)/8, $0x0000000000070502
DATA ·cwPack<>+736(SB)/8, $0x0000000007050100
DATA ·cwPack<>+744(SB)/8, $0x0000000000070501
DATA ·cwPack<>+752(SB)/8, $0x0000000000070500
DATA ·cwPack<>+760(SB)/8, $0x0000000000000705
DATA ·cwPack<>+768(SB)/8, $0x0000070403020100
DATA ·cwPack<>+776(SB)/8, $0x0000000704030201
DATA ·cwPack<>+784(SB)/8, $0x0000000704030200
DATA ·cwPack<>+792(SB)/8, $0x0000000007040302
DATA ·cwPack<>+800(SB)/8, $0x0000000704030100
DATA ·cwPack<>+808(SB)/8, $0x0000000007040301
DATA ·cwPack<>+816(SB)/8, $0x0000000007040300
DATA ·cwPack<>+824(SB)/8, $0x0000000000070403
DATA ·cwPack<>+832(SB)/8, $0x0000000704020100
DATA ·cwPack<>+840(SB)/8, $0x0000000007040201
DATA ·cwPack<>+848(SB)/8, $0x0000000007040200
DATA ·cwPack<>+856(SB)/8, $0x0000000000070402
DATA ·cwPack<>+864(SB)/8, $0x0000000007040100
DATA ·cwPack<>+872(SB)/8, $0x0000000000070401
DATA ·cwPack<>+880(SB)/8, $0x0000000000070400
DATA ·cwPack<>+888(SB)/8, $0x0000000000000704
DATA ·cwPack<>+896(SB)/8, $0x0000000703020100
DATA ·cwPack<>+904(SB)/8, $0x0000000007030201
DATA ·cwPack<>+912(SB)/8, $0x0000000007030200
DATA ·cwPack<>+920(SB)/8, $0x0000000000070302
DATA ·cwPack<>+928(SB)/8, $0x0000000007030100
DATA ·cwPack<>+936(SB)/8, $0x0000000000070301
DATA ·cwPack<>+944(SB)/8, $0x0000000000070300
DATA ·cwPack<>+952(SB)/8, $0x0000000000000703
DATA ·cwPack<>+960(SB)/8, $0x0000000007020100
DATA ·cwPack<>+968(SB)/8, $0x0000000000070201
DATA ·cwPack<>+976(SB)/8, $0x0000000000070200
DATA ·cwPack<>+984(SB)/8, $0x0000000000000702
DATA ·cwPack<>+992(SB)/8, $0x0000000000070100
DATA ·cwPack<>+1000(SB)/8, $0x0000000000000701
DATA ·cwPack<>+1008(SB)/8, $0x0000000000000700
DATA ·cwPack<>+1016(SB)/8, $0x0000000000000007
DATA ·cwPack<>+1024(SB)/8, $0x0006050403020100
DATA ·cwPack<>+1032(SB)/8, $0x0000060504030201
DATA ·cwPack<>+1040(SB)/8, $0x0000060504030200
DATA ·cwPack<>+1048(SB)/8, $0x0000000605040302
DATA ·cwPack<>+1056(SB)/8, $0x0000060504030100
DATA ·cwPack<>+1064(SB)/8, $0x0000000605040301
DATA ·cwPack<>+1072(SB)/8, $0x0000000605040300
DATA ·cwPack<>+1080(SB)/8, $0x0000000006050403
DATA ·cwPack<>+1088(SB)/8, $0x0000060504020100
DATA ·cwPack<>+1096(SB)/8, $0x0000000605040201
DATA ·cwPack<>+1104(SB)/8, $0x0000000605040200
DATA ·cwPack<>+1112(SB)/8, $0x0000000006050402
DATA ·cwPack<>+1120(SB)/8, $0x0000000605040100
DATA ·cwPack<>+1128(SB)/8, $0x0000000006050401
DATA ·cwPack<>+1136(SB)/8, $0x0000000006050400
DATA ·cwPack<>+1144(SB)/8, $0x0000000000060504
DATA ·cwPack<>+1152(SB)/8, $0x0000060503020100
DATA ·cwPack<>+1160(SB)/8, $0x0000000605030201
DATA ·cwPack<>+1168(SB)/8, $0x0000000605030200
DATA ·cwPack<>+1176(SB)/8, $0x0000000006050302
DATA ·cwPack<>+1184(SB)/8, $0x0000000605030100
DATA ·cwPack<>+1192(SB)/8, $0x0000000006050301
DATA ·cwPack<>+1200(SB)/8, $0x0000000006050300
DATA ·cwPack<>+1208(SB)/8, $0x0000000000060503
DATA ·cwPack<>+1216(SB)/8, $0x0000000605020100
DATA ·cwPack<>+1224(SB)/8, $0x0000000006050201
DATA ·cwPack<>+1232(SB)/8, $0x0000000006050200
DATA ·cwPack<>+1240(SB)/8, $0x0000000000060502
DATA ·cwPack<>+1248(SB)/8, $0x0000000006050100
DATA ·cwPack<>+1256(SB)/8, $0x0000000000060501
DATA ·cwPack<>+1264(SB)/8, $0x0000000000060500
DATA ·cwPack<>+1272(SB)/8, $0x0000000000000605
DATA ·cwPack<>+1280(SB)/8, $0x0000060403020100
DATA ·cwPack<>+1288(SB)/8, $0x0000000604030201
DATA ·cwPack<>+1296(SB)/8, $0x0000000604030200
DATA ·cwPack<>+1304(SB)/8, $0x0000000006040302
DATA ·cwPack<>+1312(SB)/8, $0x0000000604030100
DATA ·cwPack<>+1320(SB)/8, $0x0000000006040301
DATA ·cwPack<>+1328(SB)/8, $0x0000000006040300
DATA ·cwPack<>+1336(SB)/8, $0x0000000000060403
DATA ·cwPack<>+1344(SB)/8, $0x0000000604020100
DATA ·cwPack<>+1352(SB)/8, $0x0000000006040201
DATA ·cwPack<>+1360(SB)/8, $0x0000000006040200
DATA ·cwPack<>+1368(SB)/8, $0x0000000000060402
DATA ·cwPack<>+1376(SB)/8, $0x0000000006040100
DATA ·cwPack<>+1384(SB)/8, $0x0000000000060401
DATA ·cwPack<>+1392(SB)/8, $0x0000000000060400
DATA ·cwPack<>+1400(SB)/8, $0x0000000000000604
DATA ·cwPack<>+1408(SB)/8, $0x0000000603020100
DATA ·cwPack<>+1416(SB)/8, $0x0000000006030201
DATA ·cwPack<>+1424(SB)/8, $0x0000000006030200
DATA ·cwPack<>+1432(SB)/8, $0x0000000000060302
DATA ·cwPack<>+1440(SB)/8, $0x0000000006030100
DATA ·cwPack<>+1448(SB)/8, $0x0000000000060301
DATA ·cwPack<>+1456(SB)/8, $0x0000000000060300
DATA ·cwPack<>+1464(SB)/8, $0x0000000000000603
DATA ·cwPack<>+1472(SB)/8, $0x0000000006020100
DATA ·cwPack<>+1480(SB)/8, $0x0000000000060201
DATA ·cwPack<>+1488(SB)/8, $0x0000000000060200
DATA ·cwPack<>+1496(SB)/8, $0x0000000000000602
DATA ·cwPack<>+1504(SB)/8, $0x0000000000060100
DATA ·cwPack<>+1512(SB)/8, $0x0000000000000601
DATA ·cwPack<>+1520(SB)/8, $0x0000000000000600
DATA ·cwPack<>+1528(SB)/8, $0x0000000000000006
DATA ·cwPack<>+1536(SB)/8, $0x0000050403020100
DATA ·cwPack<>+1544(SB)/8, $0x0000000504030201
DATA ·cwPack<>+1552(SB)/8, $0x0000000504030200
DATA ·cwPack<>+1560(SB)/8, $0x0000000005040302
DATA ·cwPack<>+1568(SB)/8, $0x0000000504030100
DATA ·cwPack<>+1576(SB)/8, $0x0000000005040301
DATA ·cwPack<>+1584(SB)/8, $0x0000000005040300
DATA ·cwPack<>+1592(SB)/8, $0x0000000000050403
DATA ·cwPack<>+1600(SB)/8, $0x0000000504020100
DATA ·cwPack<>+1608(SB)/8, $0x0000000005040201
DATA ·cwPack<>+1616(SB)/8, $0x0000000005040200
DATA ·cwPack<>+1624(SB)/8, $0x0000000000050402
DATA ·cwPack<>+1632(SB)/8, $0x0000000005040100
DATA ·cwPack<>+1640(SB)/8, $0x0000000000050401
DATA ·cwPack<>+1648(SB)/8, $0x0000000000050400
DATA ·cwPack<>+1656(SB)/8, $0x0000000000000504
DATA ·cwPack<>+1664(SB)/8, $0x0000000503020100
DATA ·cwPack<>+1672(SB)/8, $0x0000000005030201
DATA ·cwPack<>+1680(SB)/8, $0x0000000005030200
DATA ·cwPack<>+1688(SB)/8, $0x0000000000050302
DATA ·cwPack<>+1696(SB)/8, $0x0000000005030100
DATA ·cwPack<>+1704(SB)/8, $0x0000000000050301
DATA ·cwPack<>+1712(SB)/8, $0x0000000000050300
DATA ·cwPack<>+1720(SB)/8, $0x0000000000000503
DATA ·cwPack<>+1728(SB)/8, $0x0000000005020100
DATA ·cwPack<>+1736(SB)/8, $0x0000000000050201
DATA ·cwPack<>+1744(SB)/8, $0x0000000000050200
DATA ·cwPack<>+1752(SB)/8, $0x0000000000000502
DATA ·cwPack<>+1760(SB)/8, $0x0000000000050100
DATA ·cwPack<>+1768(SB)/8, $0x0000000000000501
DATA ·cwPack<>+1776(SB)/8, $0x0000000000000500
DATA ·cwPack<>+1784(SB)/8, $0x0000000000000005
DATA ·cwPack<>+1792(SB)/8, $0x0000000403020100
DATA ·cwPack<>+1800(SB)/8, $0x0000000004030201
DATA ·cwPack<>+1808(SB)/8, $0x0000000004030200
DATA ·cwPack<>+1816(SB)/8, $0x0000000000040302
DATA ·cwPack<>+1824(SB)/8, $0x0000000004030100
DATA ·cwPack<>+1832(SB)/8, $0x0000000000040301
DATA ·cwPack<>+1840(SB)/8, $0x0000000000040300
DATA ·cwPack<>+1848(SB)/8, $0x0000000000000403
DATA ·cwPack<>+1856(SB)/8, $0x0000000004020100
DATA ·cwPack<>+1864(SB)/8, $0x0000000000040201
DATA ·cwPack<>+1872(SB)/8, $0x0000000000040200
DATA ·cwPack<>+1880(SB)/8, $0x0000000000000402
DATA ·cwPack<>+1888(SB)/8, $0x0000000000040100
DATA ·cwPack<>+1896(SB)/8, $0x0000000000000401
DATA ·cwPack<>+1904(SB)/8, $0x0000000000000400
DATA ·cwPack<>+1912(SB)/8, $0x0000000000000004
DATA ·cwPack<>+1920(SB)/8, $0x0000000003020100
DATA ·cwPack<>+1928(SB)/8, $0x0000000000030201
DATA ·cwPack<>+1936(SB)/8, $0x0000000000030200
DATA ·cwPack<>+1944(SB)/8, $0x0000000000000302
DATA ·cwPack<>+1952(SB)/8, $0x0000000000030100
DATA ·cwPack<>+1960(SB)/8, $0x0000000000000301
DATA ·cwPack<>+1968(SB)/8, $0x0000000000000300
DATA ·cwPack<>+1976(SB)/8, $0x0000000000000003
DATA ·cwPack<>+1984(SB)/8, $0x0000000000020100
DATA ·cwPack<>+1992(SB)/8, $0x0000000000000201
DATA ·cwPack<>+2000(SB)/8, $0x0000000000000200
DATA ·cwPack<>+2008(SB)/8, $0x0000000000000002
DATA ·cwPack<>+2016(SB)/8, $0x0000000000000100
DATA ·cwPack<>+2024(SB)/8, $0x0000000000000001
DATA ·cwPack<>+2032(SB)/8, $0x0000000000000000
DATA ·cwPack<>+2040(SB)/8, $0x0000000000000000
GLOBL ·cwPack<>(SB), RODATA|NOPTR, $2048
DATA ·cwCount<>+0(SB)/8, $0x0506060706070708
DATA ·cwCount<>+8(SB)/8, $0x0405050605060607
DATA ·cwCount<>+16(SB)/8, $0x0405050605060607
DATA ·cwCount<>+24(SB)/8, $0x0304040504050506
DATA ·cwCount<>+32(SB)/8, $0x0405050605060607
DATA ·cwCount<>+40(SB)/8, $0x0304040504050506
DATA ·cwCount<>+48(SB)/8, $0x0304040504050506
DATA ·cwCount<>+56(SB)/8, $0x0203030403040405
DATA ·cwCount<>+64(SB)/8, $0x0405050605060607
DATA ·cwCount<>+72(SB)/8, $0x0304040504050506
DATA ·cwCount<>+80(SB)/8, $0x0304040504050506
DATA ·cwCount<>+88(SB)/8, $0x0203030403040405
DATA ·cwCount<>+96(SB)/8, $0x0304040504050506
DATA ·cwCount<>+104(SB)/8, $0x0203030403040405
DATA ·cwCount<>+112(SB)/8, $0x0203030403040405
DATA ·cwCount<>+120(SB)/8, $0x0102020302030304
DATA ·cwCount<>+128(SB)/8, $0x0405050605060607
DATA ·cwCount<>+136(SB)/8, $0x0304040504050506
DATA ·cwCount<>+144(SB)/8, $0x0304040504050506
DATA ·cwCount<>+152(SB)/8, $0x0203030403040405
DATA ·cwCount<>+160(SB)/8, $0x0304040504050506
DATA ·cwCount<>+168(SB)/8, $0x0203030403040405
DATA ·cwCount<>+176(SB)/8, $0x0203030403040405
DATA ·cwCount<>+184(SB)/8, $0x0102020302030304
DATA ·cwCount<>+192(SB)/8, $0x0304040504050506
DATA ·cwCount<>+200(SB)/8, $0x0203030403040405
DATA ·cwCount<>+208(SB)/8, $0x0203030403040405
DATA ·cwCount<>+216(SB)/8, $0x0102020302030304
DATA ·cwCount<>+224(SB)/8, $0x0203030403040405
DATA ·cwCount<>+232(SB)/8, $0x0102020302030304
DATA ·cwCount<>+240(SB)/8, $0x0102020302030304
DATA ·cwCount<>+248(SB)/8, $0x0001010201020203
GLOBL ·cwCount<>(SB), RODATA|NOPTR, $256

// func countAboveWindowAVX2(hist []uint32, x []float32, lo, hi uint32) int
//
// Per vector of magnitudes u (VPAND 0x7fffffff): u > hi (VPCMPGTD: lo, hi
// and u are below 2^31, so the signed compares are the unsigned ones) is
// subtracted from 32-bit counts as in countMagnitudeAVX2, and u > hi OR
// lo > u marks the lanes outside the window. No branch depends on the
// data: a branch per vector on "any lane in the window" is taken at random
// for a few percent of window elements (15% of vectors at 2%) and its
// mispredictions made that version 5 times slower than CountMagnitude (on
// data the branch predictor had not learnt). Instead each vector's window
// lanes are packed to the front (VPERMD by cwPack[m]) and stored to a
// buffer on the stack whose fill grows by cwCount[m] (the stores go to
// data-dependent addresses, which costs, but far less). After every 2048
// elements a scalar loop, predictable but for its exit, increments
// hist[u-lo] for the buffered u; chunks of 512 were 10% slower.
TEXT ·countAboveWindowAVX2(SB), 0, $8256-64
	MOVQ         hist_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	MOVL         lo+48(FP), R8
	MOVL         hi+52(FP), AX
	MOVQ         AX, X9
	VPBROADCASTD X9, Y9            // hi
	MOVQ         R8, X10
	VPBROADCASTD X10, Y10          // lo
	VPBROADCASTD ·cabs<>(SB), Y11
	VPXOR        Y4, Y4, Y4
	VPXOR        Y5, Y5, Y5
	LEAQ         ·cwPack<>(SB), R13
	LEAQ         ·cwCount<>(SB), R14
	TESTQ        CX, CX
	JZ           cwSum

cwChunk:
	MOVQ    $2048, R10
	CMPQ    CX, R10
	CMOVQLT CX, R10          // this chunk's length, a multiple of 8
	SUBQ    R10, CX
	XORQ    R12, R12         // buffered window elements
	MOVQ    R10, BX
	SHRQ    $4, BX
	JZ      cwOne

cwLoop:
	VPAND     (SI), Y11, Y0
	VPAND     32(SI), Y11, Y1
	VPCMPGTD  Y9, Y0, Y2          // u0 > hi
	VPCMPGTD  Y9, Y1, Y3          // u1 > hi
	VPSUBD    Y2, Y4, Y4
	VPSUBD    Y3, Y5, Y5
	VPCMPGTD  Y0, Y10, Y6         // lo > u0
	VPCMPGTD  Y1, Y10, Y7         // lo > u1
	VPOR      Y6, Y2, Y2          // outside, first vector
	VPOR      Y7, Y3, Y3          // outside, second vector
	VMOVMSKPS Y2, AX
	VMOVMSKPS Y3, DX
	VPMOVZXBD (R13)(AX*8), Y6
	VPMOVZXBD (R13)(DX*8), Y7
	VPERMD    Y0, Y6, Y0
	VPERMD    Y1, Y7, Y1
	MOVBQZX   (R14)(AX*1), AX
	MOVBQZX   (R14)(DX*1), DX
	VMOVDQU   Y0, (SP)(R12*4)
	ADDQ      AX, R12
	VMOVDQU   Y1, (SP)(R12*4)
	ADDQ      DX, R12
	ADDQ      $64, SI
	DECQ      BX
	JNZ       cwLoop

cwOne:
	TESTQ     $8, R10
	JZ        cwFlush
	VPAND     (SI), Y11, Y0
	VPCMPGTD  Y9, Y0, Y2
	VPSUBD    Y2, Y4, Y4
	VPCMPGTD  Y0, Y10, Y6
	VPOR      Y6, Y2, Y2
	VMOVMSKPS Y2, AX
	VPMOVZXBD (R13)(AX*8), Y6
	VPERMD    Y0, Y6, Y0
	MOVBQZX   (R14)(AX*1), AX
	VMOVDQU   Y0, (SP)(R12*4)
	ADDQ      AX, R12
	ADDQ      $32, SI

cwFlush:
	TESTQ R12, R12
	JZ    cwNext
	XORQ  BX, BX

cwScatter:
	MOVL (SP)(BX*4), AX
	SUBL R8, AX
	INCL (DI)(AX*4)
	INCQ BX
	CMPQ BX, R12
	JNE  cwScatter

cwNext:
	TESTQ CX, CX
	JNZ   cwChunk

cwSum:
	VPADDD       Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPADDD       X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPADDD       X5, X4, X4
	VMOVD        X4, AX
	MOVQ         AX, ret+56(FP)
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

// func subBF16AVX2(dst []float32, a, b []uint16)
//
// Widens a and b from bfloat16 (exact), subtracts, rounds to bfloat16.
TEXT ·subBF16AVX2(SB), NOSPLIT, $0-72
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
	JZ           subBF16Tail
subBF16Loop:
	VPMOVZXWD    (SI), Y0
	VPMOVZXWD    (DX), Y2
	VPMOVZXWD    16(SI), Y1
	VPMOVZXWD    16(DX), Y3
	VPSLLD       $16, Y0, Y0
	VPSLLD       $16, Y2, Y2
	VPSLLD       $16, Y1, Y1
	VPSLLD       $16, Y3, Y3
	VSUBPS       Y2, Y0, Y0
	VSUBPS       Y3, Y1, Y1
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	BF16ROUNDF(Y1, Y3, Y6, Y7)
	VMOVUPS      Y2, (DI)
	VMOVUPS      Y3, 32(DI)
	ADDQ         $32, SI
	ADDQ         $32, DX
	ADDQ         $64, DI
	DECQ         BX
	JNZ          subBF16Loop
subBF16Tail:
	TESTQ        $8, CX
	JZ           subBF16Done
	VPMOVZXWD    (SI), Y0
	VPMOVZXWD    (DX), Y2
	VPSLLD       $16, Y0, Y0
	VPSLLD       $16, Y2, Y2
	VSUBPS       Y2, Y0, Y0
	BF16ROUNDF(Y0, Y2, Y4, Y5)
	VMOVUPS      Y2, (DI)
subBF16Done:
	VZEROUPPER
	RET

// BF16CONSTS loads the constants of BF16ROUNDF into Y14..Y9.
#define BF16CONSTS \
	VPBROADCASTD ·c7fff<>(SB), Y14 \
	VPBROADCASTD ·c1<>(SB), Y13    \
	VPBROADCASTD ·chigh<>(SB), Y12 \
	VPBROADCASTD ·cabs<>(SB), Y11  \
	VPBROADCASTD ·cinf<>(SB), Y10  \
	VPBROADCASTD ·cquiet<>(SB), Y9

// func divMulRoundBF16AVX2(dst, a, b []float32, da, db float32)
TEXT ·divMulRoundBF16AVX2(SB), NOSPLIT, $0-80
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         b_base+48(FP), DX
	VBROADCASTSS da+72(FP), Y8
	VBROADCASTSS db+76(FP), Y15
	BF16CONSTS
	SHRQ         $3, CX
	JZ           dmrdone

dmrloop:
	VMOVUPS (SI), Y0
	VDIVPS  Y8, Y0, Y0            // a/da
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VMOVUPS (DX), Y0
	VDIVPS  Y15, Y0, Y0           // b/db
	BF16ROUNDF(Y0, Y4, Y2, Y3)
	VMULPS  Y4, Y1, Y0
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     dmrloop

dmrdone:
	VZEROUPPER
	RET

// func combineDivRoundBF16AVX2(dst, a, b, base []float32, ca, cb, d float32)
TEXT ·combineDivRoundBF16AVX2(SB), NOSPLIT, $0-108
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         b_base+48(FP), DX
	MOVQ         base_base+72(FP), R8
	MOVQ         base_len+80(FP), R9
	VBROADCASTSS ca+96(FP), Y8
	VBROADCASTSS cb+100(FP), Y15
	VBROADCASTSS d+104(FP), Y7
	BF16CONSTS
	SHRQ         $3, CX
	JZ           cdrdone

cdrloop:
	VMOVUPS (SI), Y0
	VMULPS  Y8, Y0, Y0            // ca·a
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VMOVUPS (DX), Y0
	VMULPS  Y15, Y0, Y0           // cb·b
	BF16ROUNDF(Y0, Y4, Y2, Y3)
	VADDPS  Y4, Y1, Y0
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VDIVPS  Y7, Y1, Y0            // /d
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	TESTQ   R9, R9
	JZ      cdrstore
	VADDPS  (R8), Y1, Y0          // + base
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	ADDQ    $32, R8

cdrstore:
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     cdrloop

cdrdone:
	VZEROUPPER
	RET

// func divMulRoundVecBF16AVX2(dst, a, b, da, db []float32)
TEXT ·divMulRoundVecBF16AVX2(SB), NOSPLIT, $0-120
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	MOVQ da_base+72(FP), R8
	MOVQ db_base+96(FP), R9
	BF16CONSTS
	SHRQ $3, CX
	JZ   dmrvdone

dmrvloop:
	VMOVUPS (SI), Y0
	VMOVUPS (R8), Y5
	VDIVPS  Y5, Y0, Y0            // a/da
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VMOVUPS (DX), Y0
	VMOVUPS (R9), Y5
	VDIVPS  Y5, Y0, Y0            // b/db
	BF16ROUNDF(Y0, Y4, Y2, Y3)
	VMULPS  Y4, Y1, Y0
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, R9
	ADDQ    $32, DI
	DECQ    CX
	JNZ     dmrvloop

dmrvdone:
	VZEROUPPER
	RET

// func combineDivRoundVecBF16AVX2(dst, a, b, ca, cb, d []float32)
TEXT ·combineDivRoundVecBF16AVX2(SB), NOSPLIT, $0-144
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	MOVQ ca_base+72(FP), R8
	MOVQ cb_base+96(FP), R9
	MOVQ d_base+120(FP), R10
	BF16CONSTS
	SHRQ $3, CX
	JZ   cdrvdone

cdrvloop:
	VMOVUPS (SI), Y0
	VMOVUPS (R8), Y5
	VMULPS  Y5, Y0, Y0            // ca·a
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VMOVUPS (DX), Y0
	VMOVUPS (R9), Y5
	VMULPS  Y5, Y0, Y0            // cb·b
	BF16ROUNDF(Y0, Y4, Y2, Y3)
	VADDPS  Y4, Y1, Y0
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VMOVUPS (R10), Y5
	VDIVPS  Y5, Y1, Y0            // /d
	BF16ROUNDF(Y0, Y1, Y2, Y3)
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, R9
	ADDQ    $32, R10
	ADDQ    $32, DI
	DECQ    CX
	JNZ     cdrvloop

cdrvdone:
	VZEROUPPER
	RET
