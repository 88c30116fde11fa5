//go:build amd64 && gc && !purego

#include "textflag.h"

// func cvtBF16AVX512(dst *uint32, src *float32, blocks int)
//
// Rounds 32·blocks floats of src to bfloat16 into 16·blocks dwords of dst,
// in order (dword l holds floats 2l and 2l+1, low half the even one), by
// VCVTNE2PS2BF16 (round to nearest even), blocks > 0. Go's assembler
// (go1.26) has no VCVTNE2PS2BF16 mnemonic: it is written as its EVEX bytes,
// EVEX.512.F2.0F38.W0 72 /r, with the Intel-syntax instruction in the
// comment (checked with objdump -M intel). Its first source (Z2, floats
// 16-31) fills the upper half of Z0, the second (Z1, floats 0-15) the lower.
TEXT ·cvtBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX

loop:
	VMOVUPS (SI), Z1
	VMOVUPS 64(SI), Z2
	BYTE $0x62; BYTE $0xf2; BYTE $0x6f; BYTE $0x48; BYTE $0x72; BYTE $0xc1 // VCVTNE2PS2BF16 zmm0, zmm2, zmm1
	VMOVDQU32 Z0, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ CX
	JNZ loop
	VZEROUPPER
	RET
