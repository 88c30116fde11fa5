// BF16WIDEN512 widens the 16 bfloat16 values of 32 bytes at mem to
// float32 in Zout (Yout names its low half): VPERMW puts word j in the
// high half of dword j and K7's zero-masking clears the low halves. One
// shuffle, where VPMOVZXWD and VPSLLD $16 take two. BF16WIDENCONSTS512
// loads the index into Z22 and the mask into K7; the kernels that include
// this keep both.
#define BF16WIDEN512(mem, Yout, Zout) \
	VMOVDQU  mem, Yout             \
	VPERMW.Z Zout, Z22, K7, Zout

#define BF16WIDENCONSTS512 \
	VMOVDQU64 ·bf16WidenIdx<>(SB), Z22 \
	MOVL      $0xaaaaaaaa, AX          \
	KMOVD     AX, K7

// Word 2j+1 of the index is j; the even words are masked off.
DATA ·bf16WidenIdx<>+0(SB)/8, $0x0001000000000000
DATA ·bf16WidenIdx<>+8(SB)/8, $0x0003000000020000
DATA ·bf16WidenIdx<>+16(SB)/8, $0x0005000000040000
DATA ·bf16WidenIdx<>+24(SB)/8, $0x0007000000060000
DATA ·bf16WidenIdx<>+32(SB)/8, $0x0009000000080000
DATA ·bf16WidenIdx<>+40(SB)/8, $0x000b0000000a0000
DATA ·bf16WidenIdx<>+48(SB)/8, $0x000d0000000c0000
DATA ·bf16WidenIdx<>+56(SB)/8, $0x000f0000000e0000
GLOBL ·bf16WidenIdx<>(SB), RODATA|NOPTR, $64

// BF16WIDENLO512 and BF16WIDENHI512 widen words 0-15 and 16-31 of Zin to
// float32 in Zout, as BF16WIDEN512 widens 16 words in memory: they unpack
// what VCVTNE2PS2BF16 packs. BF16WIDENHI512 takes its index in Zidx, which
// BF16WIDENHICONSTS512 loads, and K7 from BF16WIDENCONSTS512.
#define BF16WIDENLO512(Zin, Zout) \
	VPERMW.Z Zin, Z22, K7, Zout

#define BF16WIDENHI512(Zidx, Zin, Zout) \
	VPERMW.Z Zin, Zidx, K7, Zout

#define BF16WIDENHICONSTS512(Zidx) \
	VMOVDQU64 ·bf16WidenHiIdx<>(SB), Zidx

DATA ·bf16WidenHiIdx<>+0(SB)/8, $0x0011000000100000
DATA ·bf16WidenHiIdx<>+8(SB)/8, $0x0013000000120000
DATA ·bf16WidenHiIdx<>+16(SB)/8, $0x0015000000140000
DATA ·bf16WidenHiIdx<>+24(SB)/8, $0x0017000000160000
DATA ·bf16WidenHiIdx<>+32(SB)/8, $0x0019000000180000
DATA ·bf16WidenHiIdx<>+40(SB)/8, $0x001b0000001a0000
DATA ·bf16WidenHiIdx<>+48(SB)/8, $0x001d0000001c0000
DATA ·bf16WidenHiIdx<>+56(SB)/8, $0x001f0000001e0000
GLOBL ·bf16WidenHiIdx<>(SB), RODATA|NOPTR, $64
