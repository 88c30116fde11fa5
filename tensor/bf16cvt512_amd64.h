// VCVTNE2PS2BF16 (AVX512_BF16) rounds 32 float32 lanes of two registers
// to bfloat16 with round-to-nearest-even in one instruction, packing them
// into one register: words 0-15 from the second source, 16-31 from the
// first. The Go assembler has no mnemonic for it, so the macros below
// spell out its EVEX encoding (EVEX.512.F2.0F38.W0 72 /r) for the
// registers the kernels use, named dst, src1, src2 in Intel order:
//
//	62, [~R ~X ~B ~R' 0 0 1 0], [0 ~vvvv 1 1 1], [0 1 0 0 ~V' 0 0 0], 72,
//	[1 1 dst[2:0] src2[2:0]]
//
// with R, R' bits 3, 4 of dst, B, X bits 3, 4 of src2 and vvvv, V' the
// low four bits and bit 4 of src1.
//
// Unlike the integer rounding of BF16ROUND512 it treats denormal inputs
// as zero (whose sign it keeps); NaNs become quiet NaNs with the input's
// high half, as BF16ROUND512 makes them. A kernel may use it only where a
// denormal input cannot change its result (the callers check bounds that
// rule them out).
#define CVTNE2PS2BF16_Z4_Z1_Z0 \
	BYTE $0x62; BYTE $0xF2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xE0

#define CVTNE2PS2BF16_Z2_Z1_Z0 \
	BYTE $0x62; BYTE $0xF2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xD0

#define CVTNE2PS2BF16_Z10_Z9_Z8 \
	BYTE $0x62; BYTE $0x52; BYTE $0x37; BYTE $0x48; BYTE $0x72; BYTE $0xD0
