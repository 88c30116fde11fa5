//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX-512 body of subvariance_amd64.go, with the constants of
// BF16ROUND512. The operands are in the order of the reference loop
// (x − base, mean + t, t − mean, ss + d·d, the quotients); in Go's operand
// order the first source is the second-to-last operand.

DATA ·sv7fff<>+0(SB)/4, $0x00007fff
GLOBL ·sv7fff<>(SB), RODATA|NOPTR, $4
DATA ·sv1<>+0(SB)/4, $0x00000001
GLOBL ·sv1<>(SB), RODATA|NOPTR, $4
DATA ·svquiet<>+0(SB)/4, $0x00400000
GLOBL ·svquiet<>(SB), RODATA|NOPTR, $4
DATA ·svhigh<>+0(SB)/4, $0xffff0000
GLOBL ·svhigh<>(SB), RODATA|NOPTR, $4
DATA ·svabs<>+0(SB)/4, $0x7fffffff
GLOBL ·svabs<>(SB), RODATA|NOPTR, $4
DATA ·svinf<>+0(SB)/4, $0x7f800000
GLOBL ·svinf<>(SB), RODATA|NOPTR, $4

#include "bf16round512_amd64.h"

// func subVarianceBF16AVX512(v []float32, tvs [][]float32, xs [][]byte, base []byte, lows *uint32, m float64, mul bool) int
TEXT ·subVarianceBF16AVX512(SB), NOSPLIT, $0-128
	MOVQ         v_base+0(FP), DI
	MOVQ         v_len+8(FP), CX
	MOVQ         tvs_base+24(FP), R8
	MOVQ         xs_base+48(FP), R9
	MOVQ         xs_len+56(FP), BX
	MOVQ         base_base+72(FP), SI
	MOVQ         lows+96(FP), DX
	VBROADCASTSD m+104(FP), Z24
	BF16CONSTS512(·sv7fff<>(SB), ·sv1<>(SB), ·svhigh<>(SB), ·svabs<>(SB), ·svinf<>(SB), ·svquiet<>(SB))
	MOVQ         $0, ret+120(FP)
	XORQ         AX, AX
	SHRQ         $4, CX
	JZ           svDone

svLoop:
	VPMOVZXWD (SI)(AX*2), Z0
	VPSLLD    $16, Z0, Z0          // base
	VPXORQ    Z10, Z10, Z10        // mean, lanes 0-7
	VPXORQ    Z11, Z11, Z11        // mean, lanes 8-15
	MOVQ      R9, R10
	MOVQ      R8, R11
	MOVQ      DX, R13
	MOVQ      BX, R14

svMean:
	MOVQ          (R10), R12
	VPMOVZXWD     (R12)(AX*2), Z2
	VPSLLD        $16, Z2, Z2
	VSUBPS        Z0, Z2, Z2       // x − base
	BF16ROUND512(Z2, Z3, Z4)       // t
	MOVQ          (R11), R12
	VMOVUPS       Z3, (R12)(AX*4)
	VPANDD        Z27, Z3, Z4
	VPSUBD        Z29, Z4, Z4      // magnitude bits − 1
	VPMINUD       (R13), Z4, Z4
	VMOVDQU32     Z4, (R13)
	VCVTPS2PD     Y3, Z5
	VEXTRACTF32X8 $1, Z3, Y6
	VCVTPS2PD     Y6, Z6
	VADDPD        Z5, Z10, Z10     // mean + t
	VADDPD        Z6, Z11, Z11
	ADDQ          $24, R10
	ADDQ          $24, R11
	ADDQ          $64, R13
	DECQ          R14
	JNZ           svMean

	CMPB   mul+112(FP), $0
	JNE    svMulMean
	VDIVPD Z24, Z10, Z10
	VDIVPD Z24, Z11, Z11
	JMP    svSS

svMulMean:
	VMULPD Z24, Z10, Z10
	VMULPD Z24, Z11, Z11

svSS:
	VPXORQ Z12, Z12, Z12           // ss, lanes 0-7
	VPXORQ Z13, Z13, Z13           // ss, lanes 8-15
	MOVQ   R8, R11
	MOVQ   BX, R14

svSquares:
	MOVQ      (R11), R12
	VCVTPS2PD (R12)(AX*4), Z5
	VCVTPS2PD 32(R12)(AX*4), Z6
	VSUBPD    Z10, Z5, Z5          // t − mean
	VSUBPD    Z11, Z6, Z6
	VMULPD    Z5, Z5, Z5
	VMULPD    Z6, Z6, Z6
	VADDPD    Z5, Z12, Z12         // ss + d·d
	VADDPD    Z6, Z13, Z13
	ADDQ      $24, R11
	DECQ      R14
	JNZ       svSquares

	CMPB   mul+112(FP), $0
	JNE    svMulSS
	VDIVPD Z24, Z12, Z12
	VDIVPD Z24, Z13, Z13
	JMP    svNarrow

svMulSS:
	VMULPD Z24, Z12, Z12
	VMULPD Z24, Z13, Z13

svNarrow:
	VCVTPD2PS     Z12, Y12
	VCVTPD2PS     Z13, Y13
	VINSERTF32X8  $1, Y13, Z12, Z12
	BF16ROUND512(Z12, Z14, Z4)
	VMOVUPS       Z14, (DI)(AX*4)
	VPTESTMD      Z27, Z14, K3     // non-zero magnitude
	KMOVW         K3, R12
	POPCNTL       R12, R12
	ADDQ          R12, ret+120(FP)
	ADDQ          $16, AX
	DECQ          CX
	JNZ           svLoop

svDone:
	VZEROUPPER
	RET
