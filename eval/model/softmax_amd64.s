//go:build amd64 && gc && !purego

#include "textflag.h"

// Constants of exp32 (softmax_generic.go), eight copies each.
// c1 = 0.693359375
DATA expConst<>+0(SB)/8, $0x3f3180003f318000
DATA expConst<>+8(SB)/8, $0x3f3180003f318000
DATA expConst<>+16(SB)/8, $0x3f3180003f318000
DATA expConst<>+24(SB)/8, $0x3f3180003f318000
// c2 = -0.00021219444
DATA expConst<>+32(SB)/8, $0xb95e8083b95e8083
DATA expConst<>+40(SB)/8, $0xb95e8083b95e8083
DATA expConst<>+48(SB)/8, $0xb95e8083b95e8083
DATA expConst<>+56(SB)/8, $0xb95e8083b95e8083
// p0 = 0.000198756915
DATA expConst<>+64(SB)/8, $0x3950696739506967
DATA expConst<>+72(SB)/8, $0x3950696739506967
DATA expConst<>+80(SB)/8, $0x3950696739506967
DATA expConst<>+88(SB)/8, $0x3950696739506967
// p1 = 0.0013981999507
DATA expConst<>+96(SB)/8, $0x3ab743ce3ab743ce
DATA expConst<>+104(SB)/8, $0x3ab743ce3ab743ce
DATA expConst<>+112(SB)/8, $0x3ab743ce3ab743ce
DATA expConst<>+120(SB)/8, $0x3ab743ce3ab743ce
// p2 = 0.0083334519073
DATA expConst<>+128(SB)/8, $0x3c0889083c088908
DATA expConst<>+136(SB)/8, $0x3c0889083c088908
DATA expConst<>+144(SB)/8, $0x3c0889083c088908
DATA expConst<>+152(SB)/8, $0x3c0889083c088908
// p3 = 0.041665795894
DATA expConst<>+160(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expConst<>+168(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expConst<>+176(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expConst<>+184(SB)/8, $0x3d2aa9c13d2aa9c1
// p4 = 0.16666665459
DATA expConst<>+192(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expConst<>+200(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expConst<>+208(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expConst<>+216(SB)/8, $0x3e2aaaaa3e2aaaaa
// p5 = 0.50000001201
DATA expConst<>+224(SB)/8, $0x3f0000003f000000
DATA expConst<>+232(SB)/8, $0x3f0000003f000000
DATA expConst<>+240(SB)/8, $0x3f0000003f000000
DATA expConst<>+248(SB)/8, $0x3f0000003f000000
// one = 1.0
DATA expConst<>+256(SB)/8, $0x3f8000003f800000
DATA expConst<>+264(SB)/8, $0x3f8000003f800000
DATA expConst<>+272(SB)/8, $0x3f8000003f800000
DATA expConst<>+280(SB)/8, $0x3f8000003f800000
// bias = 127.0
DATA expConst<>+288(SB)/8, $0x42fe000042fe0000
DATA expConst<>+296(SB)/8, $0x42fe000042fe0000
DATA expConst<>+304(SB)/8, $0x42fe000042fe0000
DATA expConst<>+312(SB)/8, $0x42fe000042fe0000
// log2e = 1.4426950408889634
DATA expConst<>+320(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expConst<>+328(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expConst<>+336(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expConst<>+344(SB)/8, $0x3fb8aa3b3fb8aa3b
// lo = -87.33654
DATA expConst<>+352(SB)/8, $0xc2aeac4fc2aeac4f
DATA expConst<>+360(SB)/8, $0xc2aeac4fc2aeac4f
DATA expConst<>+368(SB)/8, $0xc2aeac4fc2aeac4f
DATA expConst<>+376(SB)/8, $0xc2aeac4fc2aeac4f
GLOBL expConst<>(SB), RODATA|NOPTR, $384

// func expSumAVX2(x *float32, n int, m float32) float32
//
// Σ e^(x[i]-m) for n a positive multiple of 8, eight lanes at a time: the
// steps of exp32 with fused multiply-adds, summed per lane in float32.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y4
	VMOVUPS      expConst<>+352(SB), Y5
	VXORPS       Y6, Y6, Y6
	SHRQ         $3, CX

loop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y4, Y0, Y0
	VMAXPS       Y0, Y5, Y0 // NaN in x stays NaN
	VMULPS       expConst<>+320(SB), Y0, Y1
	VROUNDPS     $0, Y1, Y1
	VFNMADD231PS expConst<>+0(SB), Y1, Y0
	VFNMADD231PS expConst<>+32(SB), Y1, Y0
	VMOVUPS      expConst<>+64(SB), Y2
	VFMADD213PS  expConst<>+96(SB), Y0, Y2
	VFMADD213PS  expConst<>+128(SB), Y0, Y2
	VFMADD213PS  expConst<>+160(SB), Y0, Y2
	VFMADD213PS  expConst<>+192(SB), Y0, Y2
	VFMADD213PS  expConst<>+224(SB), Y0, Y2
	VMULPS       Y0, Y0, Y3
	VFMADD213PS  Y0, Y3, Y2
	VADDPS       expConst<>+256(SB), Y2, Y2
	VADDPS       expConst<>+288(SB), Y1, Y1
	VCVTPS2DQ    Y1, Y1
	VPSLLD       $23, Y1, Y1
	VMULPS       Y1, Y2, Y2
	VADDPS       Y2, Y6, Y6
	ADDQ         $32, SI
	DECQ         CX
	JNZ          loop

	VEXTRACTF128 $1, Y6, X7
	VADDPS       X7, X6, X6
	VHADDPS      X6, X6, X6
	VHADDPS      X6, X6, X6
	VMOVSS       X6, ret+24(FP)
	VZEROUPPER
	RET

// func expStoreAVX2(x *float32, n int, m float32) float32
//
// expSumAVX2's loop that also stores e^(x[i]-m) over x[i].
TEXT ·expStoreAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y4
	VMOVUPS      expConst<>+352(SB), Y5
	VXORPS       Y6, Y6, Y6
	SHRQ         $3, CX

loop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y4, Y0, Y0
	VMAXPS       Y0, Y5, Y0 // NaN in x stays NaN
	VMULPS       expConst<>+320(SB), Y0, Y1
	VROUNDPS     $0, Y1, Y1
	VFNMADD231PS expConst<>+0(SB), Y1, Y0
	VFNMADD231PS expConst<>+32(SB), Y1, Y0
	VMOVUPS      expConst<>+64(SB), Y2
	VFMADD213PS  expConst<>+96(SB), Y0, Y2
	VFMADD213PS  expConst<>+128(SB), Y0, Y2
	VFMADD213PS  expConst<>+160(SB), Y0, Y2
	VFMADD213PS  expConst<>+192(SB), Y0, Y2
	VFMADD213PS  expConst<>+224(SB), Y0, Y2
	VMULPS       Y0, Y0, Y3
	VFMADD213PS  Y0, Y3, Y2
	VADDPS       expConst<>+256(SB), Y2, Y2
	VADDPS       expConst<>+288(SB), Y1, Y1
	VCVTPS2DQ    Y1, Y1
	VPSLLD       $23, Y1, Y1
	VMULPS       Y1, Y2, Y2
	VADDPS       Y2, Y6, Y6
	VMOVUPS      Y2, (SI)
	ADDQ         $32, SI
	DECQ         CX
	JNZ          loop

	VEXTRACTF128 $1, Y6, X7
	VADDPS       X7, X6, X6
	VHADDPS      X6, X6, X6
	VHADDPS      X6, X6, X6
	VMOVSS       X6, ret+24(FP)
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
//
// The largest of x[:n], n a positive multiple of 8.
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VMOVUPS      (SI), Y0
	ADDQ         $32, SI
	SHRQ         $3, CX
	DECQ         CX
	JZ           done

loop:
	VMAXPS       (SI), Y0, Y0
	ADDQ         $32, SI
	DECQ         CX
	JNZ          loop

done:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VMAXPS       X1, X0, X0
	VSHUFPS      $0x55, X0, X0, X1
	VMAXPS       X1, X0, X0
	VMOVSS       X0, ret+16(FP)
	VZEROUPPER
	RET

// func mulF64AVX2(x *float32, n int, s float64)
//
// x[i] = float32(float64(x[i]) · s) for i < n, n a positive multiple of 4:
// four floats widened, multiplied in float64 and rounded back at a time,
// each exactly as the Go expression rounds it.
TEXT ·mulF64AVX2(SB), NOSPLIT, $0-24
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	SHRQ         $2, CX
	VBROADCASTSD s+16(FP), Y1

mulf64loop:
	VCVTPS2PD (SI), Y0
	VMULPD    Y1, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS   X0, (SI)
	ADDQ      $16, SI
	DECQ      CX
	JNZ       mulf64loop
	VZEROUPPER
	RET
