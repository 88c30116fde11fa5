//go:build amd64 && gc && !purego

#include "textflag.h"

// AVX-512 bodies of inorder_amd64.go.

DATA ·io7fff<>+0(SB)/4, $0x00007fff
GLOBL ·io7fff<>(SB), RODATA|NOPTR, $4
DATA ·io1<>+0(SB)/4, $0x00000001
GLOBL ·io1<>(SB), RODATA|NOPTR, $4
DATA ·ioquiet<>+0(SB)/4, $0x00400000
GLOBL ·ioquiet<>(SB), RODATA|NOPTR, $4
DATA ·iohigh<>+0(SB)/4, $0xffff0000
GLOBL ·iohigh<>(SB), RODATA|NOPTR, $4
DATA ·ioabs<>+0(SB)/4, $0x7fffffff
GLOBL ·ioabs<>(SB), RODATA|NOPTR, $4
DATA ·ioinf<>+0(SB)/4, $0x7f800000
GLOBL ·ioinf<>(SB), RODATA|NOPTR, $4

#include "bf16round512_amd64.h"

// LANESINIT clears the sums (Z0, Z1), the largest magnitude (Z2) and the
// OR (Z4), sets the smallest magnitude minus one (Z3) and Z24 to all ones.
#define LANESINIT \
	VPXORD     Z0, Z0, Z0      \
	VPXORD     Z1, Z1, Z1      \
	VPXORD     Z2, Z2, Z2      \
	VPXORD     Z4, Z4, Z4      \
	VPTERNLOGD $0xff, Z24, Z24, Z24 \
	VMOVDQA32  Z24, Z3

// LANESADD adds the 16 float32s of zv (yv its low half) to the summary;
// Z27 holds 0x7fffffff, Z6 and Z7 are scratch.
#define LANESADD(zv, yv) \
	VCVTPS2PD     yv, Z6      \
	VEXTRACTF64X4 $1, zv, Y7  \
	VCVTPS2PD     Y7, Z7      \
	VADDPD        Z6, Z0, Z0  \
	VADDPD        Z7, Z1, Z1  \
	VPORD         zv, Z4, Z4  \
	VPANDD        Z27, zv, Z6 \
	VPMAXUD       Z6, Z2, Z2  \
	VPADDD        Z24, Z6, Z6 \
	VPMINUD       Z6, Z3, Z3

// LANESSTORE reduces the lanes and writes the lanesSum at (DI).
#define LANESSTORE \
	VADDPD        Z1, Z0, Z0  \
	VEXTRACTF64X4 $1, Z0, Y1  \
	VADDPD        Y1, Y0, Y0  \
	VEXTRACTF128  $1, Y0, X1  \
	VADDPD        X1, X0, X0  \
	VPERMILPD     $1, X0, X1  \
	VADDSD        X1, X0, X0  \
	VMOVSD        X0, (DI)    \
	VEXTRACTI64X4 $1, Z2, Y5  \
	VPMAXUD       Y5, Y2, Y2  \
	VEXTRACTI128  $1, Y2, X5  \
	VPMAXUD       X5, X2, X2  \
	VPSHUFD       $0x4e, X2, X5 \
	VPMAXUD       X5, X2, X2  \
	VPSHUFD       $0xb1, X2, X5 \
	VPMAXUD       X5, X2, X2  \
	VMOVD         X2, 8(DI)   \
	VEXTRACTI64X4 $1, Z3, Y5  \
	VPMINUD       Y5, Y3, Y3  \
	VEXTRACTI128  $1, Y3, X5  \
	VPMINUD       X5, X3, X3  \
	VPSHUFD       $0x4e, X3, X5 \
	VPMINUD       X5, X3, X3  \
	VPSHUFD       $0xb1, X3, X5 \
	VPMINUD       X5, X3, X3  \
	VMOVD         X3, 12(DI)  \
	VEXTRACTI64X4 $1, Z4, Y5  \
	VPOR          Y5, Y4, Y4  \
	VEXTRACTI128  $1, Y4, X5  \
	VPOR          X5, X4, X4  \
	VPSHUFD       $0x4e, X4, X5 \
	VPOR          X5, X4, X4  \
	VPSHUFD       $0xb1, X4, X5 \
	VPOR          X5, X4, X4  \
	VMOVD         X4, 16(DI)

// func lanesSumAVX512(x *float32, n int, r *lanesSum)
TEXT ·lanesSumAVX512(SB), NOSPLIT, $0-24
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVQ         r+16(FP), DI
	VPBROADCASTD ·ioabs<>(SB), Z27
	LANESINIT
	SHRQ         $4, CX
	JZ           lsDone

lsLoop:
	VMOVUPS (SI), Z8
	LANESADD(Z8, Y8)
	ADDQ    $64, SI
	DECQ    CX
	JNZ     lsLoop

lsDone:
	LANESSTORE
	VZEROUPPER
	RET

// func roundedDotLanesAVX512(x, y *float32, n int, r *lanesSum)
TEXT ·roundedDotLanesAVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DX
	MOVQ n+16(FP), CX
	MOVQ r+24(FP), DI
	BF16CONSTS512(·io7fff<>(SB), ·io1<>(SB), ·iohigh<>(SB), ·ioabs<>(SB), ·ioinf<>(SB), ·ioquiet<>(SB))
	LANESINIT
	SHRQ $4, CX
	JZ   rdlDone

rdlLoop:
	VMOVUPS (SI), Z8
	VMULPS  (DX), Z8, Z8     // x·y
	BF16ROUND512(Z8, Z9, Z10)
	LANESADD(Z9, Y9)
	ADDQ    $64, SI
	ADDQ    $64, DX
	DECQ    CX
	JNZ     rdlLoop

rdlDone:
	LANESSTORE
	VZEROUPPER
	RET

#include "bf16widen512_amd64.h"
#include "bf16cvt512_amd64.h"

// func roundedDotLanesCVT(x, y *float32, n int, r *lanesSum) (ok bool)
//
// roundedDotLanesAVX512 on two vectors of 16 per iteration, the products
// rounded together by VCVTNE2PS2BF16 and widened back (BF16WIDENLO512,
// BF16WIDENHI512) before LANESADD takes them in order. ok is false when a
// product was denormal (VFPCLASSPS), which the instruction flushes to zero:
// the caller then discards r. n is a multiple of 32.
TEXT ·roundedDotLanesCVT(SB), NOSPLIT, $0-33
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DX
	MOVQ         n+16(FP), CX
	MOVQ         r+24(FP), DI
	VPBROADCASTD ·ioabs<>(SB), Z27
	BF16WIDENCONSTS512
	BF16WIDENHICONSTS512(Z18)
	LANESINIT
	KXORW        K5, K5, K5
	SHRQ         $5, CX
	JZ           rdcDone

rdcLoop:
	VMOVUPS     (SI), Z8
	VMULPS      (DX), Z8, Z8     // x·y
	VMOVUPS     64(SI), Z9
	VMULPS      64(DX), Z9, Z9
	VFPCLASSPSZ $0x20, Z8, K1
	VFPCLASSPSZ $0x20, Z9, K2
	KORW        K1, K5, K5
	KORW        K2, K5, K5
	CVTNE2PS2BF16_Z10_Z9_Z8
	BF16WIDENLO512(Z10, Z11)
	BF16WIDENHI512(Z18, Z10, Z12)
	LANESADD(Z11, Y11)
	LANESADD(Z12, Y12)
	ADDQ        $128, SI
	ADDQ        $128, DX
	DECQ        CX
	JNZ         rdcLoop

rdcDone:
	LANESSTORE
	KORTESTW K5, K5
	SETEQ    ok+32(FP)
	VZEROUPPER
	RET
