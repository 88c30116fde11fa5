//go:build amd64 && gc && !purego

#include "textflag.h"

// func gemm8x32BF16AVX512(xs *[8]*uint32, panel *uint32, k int, out *[256]float32)
//
// out[32i+j] = Σ_{l<k} VDPBF16PS steps of xs[i][l] (token i's bf16 pair
// l: columns 2l, 2l+1) with panel[32l+j] (weight row j's pair l), k > 0.
// Each step loads two vectors of the panel (32 rows of pairs), broadcasts
// one pair of each token row and issues 16 VDPBF16PS into Z0-Z15 (token i
// in Z(2i) and Z(2i+1)); Z16-Z23 hold the broadcasts, Z24-Z25 the panel.
//
// Go's assembler (go1.26) has no VDPBF16PS mnemonic, so each one is
// written as its EVEX bytes: 62 P0 P1 P2 52 modrm, EVEX.512.F3.0F38.W0 52 /r
// with register operands (VDPBF16PS zmm_acc, zmm_panel, zmm_bcast); the
// comment on each line gives the Intel-syntax instruction (the bytes were
// checked with objdump -M intel).
TEXT ·gemm8x32BF16AVX512(SB), NOSPLIT, $0-32
	MOVQ xs+0(FP), BX
	MOVQ 8(BX), SI
	MOVQ 16(BX), R8
	MOVQ 24(BX), R9
	MOVQ 32(BX), R10
	MOVQ 40(BX), R11
	MOVQ 48(BX), R12
	MOVQ 56(BX), R13
	MOVQ 0(BX), AX
	MOVQ panel+8(FP), DI
	MOVQ k+16(FP), CX
	MOVQ out+24(FP), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	XORQ BX, BX

loop:
	VMOVDQU32 (DI), Z24
	VMOVDQU32 64(DI), Z25
	VPBROADCASTD (AX)(BX*1), Z16
	BYTE $0x62; BYTE $0xb2; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xc0 // VDPBF16PS zmm0, zmm24, zmm16
	BYTE $0x62; BYTE $0xb2; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xc8 // VDPBF16PS zmm1, zmm25, zmm16
	VPBROADCASTD (SI)(BX*1), Z17
	BYTE $0x62; BYTE $0xb2; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xd1 // VDPBF16PS zmm2, zmm24, zmm17
	BYTE $0x62; BYTE $0xb2; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xd9 // VDPBF16PS zmm3, zmm25, zmm17
	VPBROADCASTD (R8)(BX*1), Z18
	BYTE $0x62; BYTE $0xb2; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xe2 // VDPBF16PS zmm4, zmm24, zmm18
	BYTE $0x62; BYTE $0xb2; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xea // VDPBF16PS zmm5, zmm25, zmm18
	VPBROADCASTD (R9)(BX*1), Z19
	BYTE $0x62; BYTE $0xb2; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xf3 // VDPBF16PS zmm6, zmm24, zmm19
	BYTE $0x62; BYTE $0xb2; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xfb // VDPBF16PS zmm7, zmm25, zmm19
	VPBROADCASTD (R10)(BX*1), Z20
	BYTE $0x62; BYTE $0x32; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xc4 // VDPBF16PS zmm8, zmm24, zmm20
	BYTE $0x62; BYTE $0x32; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xcc // VDPBF16PS zmm9, zmm25, zmm20
	VPBROADCASTD (R11)(BX*1), Z21
	BYTE $0x62; BYTE $0x32; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xd5 // VDPBF16PS zmm10, zmm24, zmm21
	BYTE $0x62; BYTE $0x32; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xdd // VDPBF16PS zmm11, zmm25, zmm21
	VPBROADCASTD (R12)(BX*1), Z22
	BYTE $0x62; BYTE $0x32; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xe6 // VDPBF16PS zmm12, zmm24, zmm22
	BYTE $0x62; BYTE $0x32; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xee // VDPBF16PS zmm13, zmm25, zmm22
	VPBROADCASTD (R13)(BX*1), Z23
	BYTE $0x62; BYTE $0x32; BYTE $0x3e; BYTE $0x40; BYTE $0x52; BYTE $0xf7 // VDPBF16PS zmm14, zmm24, zmm23
	BYTE $0x62; BYTE $0x32; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xff // VDPBF16PS zmm15, zmm25, zmm23
	ADDQ $128, DI
	ADDQ $4, BX
	DECQ CX
	JNZ loop

	VMOVUPS Z0, 0(DX)
	VMOVUPS Z1, 64(DX)
	VMOVUPS Z2, 128(DX)
	VMOVUPS Z3, 192(DX)
	VMOVUPS Z4, 256(DX)
	VMOVUPS Z5, 320(DX)
	VMOVUPS Z6, 384(DX)
	VMOVUPS Z7, 448(DX)
	VMOVUPS Z8, 512(DX)
	VMOVUPS Z9, 576(DX)
	VMOVUPS Z10, 640(DX)
	VMOVUPS Z11, 704(DX)
	VMOVUPS Z12, 768(DX)
	VMOVUPS Z13, 832(DX)
	VMOVUPS Z14, 896(DX)
	VMOVUPS Z15, 960(DX)
	VZEROUPPER
	RET
