//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX2 bodies of the SCE erase kernels (elect_amd64.go), eight lanes at a
// time; lengths are multiples of 8. Operands are in the order of the gc
// compiler's SSE code for the references (v·q, num + p, base + quotient),
// so that NaN payloads agree. In Go's operand order the first source is
// the second-to-last operand.

DATA ·e7fff<>+0(SB)/4, $0x00007fff
GLOBL ·e7fff<>(SB), RODATA|NOPTR, $4
DATA ·e1<>+0(SB)/4, $0x00000001
GLOBL ·e1<>(SB), RODATA|NOPTR, $4
DATA ·equiet<>+0(SB)/4, $0x00400000
GLOBL ·equiet<>(SB), RODATA|NOPTR, $4
DATA ·ehigh<>+0(SB)/4, $0xffff0000
GLOBL ·ehigh<>(SB), RODATA|NOPTR, $4
DATA ·eabs<>+0(SB)/4, $0x7fffffff
GLOBL ·eabs<>(SB), RODATA|NOPTR, $4
DATA ·einf<>+0(SB)/4, $0x7f800000
GLOBL ·einf<>(SB), RODATA|NOPTR, $4

#include "bf16round_amd64.h"

#define BF16CONSTS \
	VPBROADCASTD ·e7fff<>(SB), Y14  \
	VPBROADCASTD ·e1<>(SB), Y13     \
	VPBROADCASTD ·ehigh<>(SB), Y12  \
	VPBROADCASTD ·eabs<>(SB), Y11   \
	VPBROADCASTD ·einf<>(SB), Y10   \
	VPBROADCASTD ·equiet<>(SB), Y9

// func addElectedRoundBF16AVX2(num, den, x, sum []float32, q float32)
TEXT ·addElectedRoundBF16AVX2(SB), NOSPLIT, $0-100
	MOVQ         num_base+0(FP), DI
	MOVQ         num_len+8(FP), CX
	MOVQ         den_base+24(FP), R8
	MOVQ         x_base+48(FP), SI
	MOVQ         sum_base+72(FP), DX
	VBROADCASTSS q+96(FP), Y8
	BF16CONSTS
	VXORPS       Y15, Y15, Y15
	SHRQ         $3, CX
	JZ           eldone

elloop:
	VMOVUPS (SI), Y0           // x
	VMOVUPS (DX), Y1           // sum
	VCMPPS  $4, Y15, Y0, Y2    // x != 0 (NEQ_UQ)
	VCMPPS  $0x1e, Y15, Y0, Y3 // x > 0 (GT_OQ)
	VCMPPS  $0x1d, Y15, Y1, Y4 // sum >= 0 (GE_OQ)
	VXORPS  Y4, Y3, Y3         // the signs differ
	VANDNPS Y2, Y3, Y3         // elected = nonzero &^ differ
	VMULPS  Y8, Y0, Y5         // x·q
	BF16ROUNDF(Y5, Y6, Y4, Y7)
	VANDPS  Y3, Y6, Y6         // p, +0 where not elected
	VMOVUPS (DI), Y7
	VADDPS  Y6, Y7, Y7         // num + p
	VMOVUPS Y7, (DI)
	VANDPS  Y8, Y3, Y6         // w
	VMOVUPS (R8), Y7
	VADDPS  Y6, Y7, Y7         // den + w
	VMOVUPS Y7, (R8)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	ADDQ    $32, R8
	DECQ    CX
	JNZ     elloop

eldone:
	VZEROUPPER
	RET

// func divMaxAddRoundBF16AVX2(out, base, num, den []float32, eps float32)
TEXT ·divMaxAddRoundBF16AVX2(SB), NOSPLIT, $0-100
	MOVQ         out_base+0(FP), DI
	MOVQ         out_len+8(FP), CX
	MOVQ         base_base+24(FP), SI
	MOVQ         num_base+48(FP), DX
	MOVQ         den_base+72(FP), R8
	VBROADCASTSS eps+96(FP), Y8
	BF16CONSTS
	SHRQ         $3, CX
	JZ           dmdone

dmloop:
	VMOVUPS (DX), Y0
	BF16ROUNDF(Y0, Y1, Y2, Y3)      // r(num)
	VMOVUPS (R8), Y0
	BF16ROUNDF(Y0, Y4, Y2, Y3)      // r(den)
	VMAXPS  Y4, Y8, Y4         // max(r(den), eps): r(den) if it is a NaN
	VDIVPS  Y4, Y1, Y1         // r(num) / max
	BF16ROUNDF(Y1, Y5, Y2, Y3)
	VMOVUPS (SI), Y0
	VADDPS  Y5, Y0, Y0         // base + quotient
	BF16ROUNDF(Y0, Y6, Y2, Y3)
	VMOVUPS Y6, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, DI
	DECQ    CX
	JNZ     dmloop

dmdone:
	VZEROUPPER
	RET
