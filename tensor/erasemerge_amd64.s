//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX-512 body of erasemerge_amd64.go, with the constants of BF16ROUND512.
// In Go's operand order the first source is the second-to-last operand.

DATA ·em7fff<>+0(SB)/4, $0x00007fff
GLOBL ·em7fff<>(SB), RODATA|NOPTR, $4
DATA ·em1<>+0(SB)/4, $0x00000001
GLOBL ·em1<>(SB), RODATA|NOPTR, $4
DATA ·emquiet<>+0(SB)/4, $0x00400000
GLOBL ·emquiet<>(SB), RODATA|NOPTR, $4
DATA ·emhigh<>+0(SB)/4, $0xffff0000
GLOBL ·emhigh<>(SB), RODATA|NOPTR, $4
DATA ·emabs<>+0(SB)/4, $0x7fffffff
GLOBL ·emabs<>(SB), RODATA|NOPTR, $4
DATA ·eminf<>+0(SB)/4, $0x7f800000
GLOBL ·eminf<>(SB), RODATA|NOPTR, $4

#include "bf16round512_amd64.h"

// func eraseMergeBF16AVX512(out []float32, xs [][]byte, base []byte, mask *uint64, q []float32, eps float32, tmp *float32)
TEXT ·eraseMergeBF16AVX512(SB), NOSPLIT, $0-120
	MOVQ         out_base+0(FP), DI
	MOVQ         out_len+8(FP), CX
	MOVQ         xs_base+24(FP), R9
	MOVQ         xs_len+32(FP), BX
	MOVQ         base_base+48(FP), SI
	MOVQ         mask+72(FP), DX
	MOVQ         q_base+80(FP), R8
	VBROADCASTSS eps+104(FP), Z24
	MOVQ         tmp+112(FP), R11
	BF16CONSTS512(·em7fff<>(SB), ·em1<>(SB), ·emhigh<>(SB), ·emabs<>(SB), ·eminf<>(SB), ·emquiet<>(SB))
	VPXORD       Z15, Z15, Z15
	XORQ         AX, AX
	SHRQ         $4, CX
	JZ           emDone

emLoop:
	VPMOVZXWD (SI)(AX*2), Z0
	VPSLLD    $16, Z0, Z0      // base
	KXNORW    K2, K2, K2       // keep all
	TESTQ     DX, DX
	JZ        emKept
	MOVQ      AX, R12
	SHRQ      $3, R12
	KMOVW     (DX)(R12*1), K2  // the mask's 16 bits

emKept:
	VPXORD Z1, Z1, Z1          // sum = +0
	MOVQ   R9, R10
	MOVQ   R11, R14
	MOVQ   BX, R13

emSum:
	MOVQ      (R10), R12
	VPMOVZXWD (R12)(AX*2), Z2
	VPSLLD    $16, Z2, Z2
	VSUBPS    Z0, Z2, Z2       // x − base
	BF16ROUND512(Z2, Z3, Z4)
	VMOVAPS.Z Z3, K2, Z3       // τ, +0 where the mask drops it
	VMOVUPS   Z3, (R14)
	VADDPS    Z3, Z1, Z1       // sum + τ
	ADDQ      $24, R10
	ADDQ      $64, R14
	DECQ      R13
	JNZ       emSum

	BF16ROUND512(Z1, Z5, Z4)   // r(sum)
	VCMPPS $0x1d, Z15, Z5, K5  // sum >= 0 (GE_OQ)
	VPXORD Z6, Z6, Z6          // num
	VPXORD Z7, Z7, Z7          // den
	MOVQ   R11, R14
	MOVQ   R8, R12
	MOVQ   BX, R13

emElect:
	VMOVUPS      (R14), Z3
	VBROADCASTSS (R12), Z8
	VCMPPS       $4, Z15, Z3, K3     // τ != 0 (NEQ_UQ)
	VCMPPS       $0x1e, Z15, Z3, K4  // τ > 0 (GT_OQ)
	KXNORW       K4, K5, K4          // the signs agree
	KANDW        K3, K4, K4          // elected
	VMULPS       Z8, Z3, Z9          // τ·q
	BF16ROUND512(Z9, Z10, Z4)
	VADDPS       Z10, Z6, K4, Z6     // num + p where elected
	VADDPS       Z8, Z7, K4, Z7      // den + q where elected
	ADDQ         $64, R14
	ADDQ         $4, R12
	DECQ         R13
	JNZ          emElect

	BF16ROUND512(Z6, Z9, Z4)   // r(num)
	BF16ROUND512(Z7, Z10, Z4)  // r(den)
	VMAXPS  Z10, Z24, Z10      // max(r(den), eps): r(den) if it is a NaN
	VDIVPS  Z10, Z9, Z9        // r(num) / max
	BF16ROUND512(Z9, Z11, Z4)
	VADDPS  Z11, Z0, Z0        // base + quotient
	BF16ROUND512(Z0, Z12, Z4)
	VMOVUPS Z12, (DI)(AX*4)
	ADDQ    $16, AX
	DECQ    CX
	JNZ     emLoop

emDone:
	VZEROUPPER
	RET
