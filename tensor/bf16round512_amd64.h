// BF16ROUND512 is BF16ROUNDF (bf16round_amd64.h) on 16 lanes: out is in
// rounded to bfloat16, or for a NaN the input with the quiet bit set and
// its low half cleared. One unordered compare finds the NaN lanes, whose
// in | quiet replaces the rounding sum before the one AND that clears the
// low half: seven instructions where testing the magnitude against
// infinity and masking the result took nine. Z30, Z29, Z28 and Z25 hold
// 0x7fff, 1, 0xffff0000 and 0x00400000 (BF16CONSTS512 also loads
// 0x7fffffff and 0x7f800000 into Z27 and Z26 for the kernels that use
// them); out and t must differ from in, t is scratch and K1 is
// overwritten.
#define BF16ROUND512(in, out, t) \
	VPSRLD $16, in, t        \
	VPANDD Z29, t, t         \
	VPADDD Z30, in, out      \
	VPADDD t, out, out       \
	VCMPPS $3, in, in, K1    \
	VPORD  Z25, in, K1, out  \
	VPANDD Z28, out, out

// BF16CONSTS512 loads the constants of BF16ROUND512 from the file's DATA
// (prefix p: p7fff, p1, phigh, pabs, pinf, pquiet).
#define BF16CONSTS512(c7fff, c1, chigh, cabs, cinf, cquiet) \
	VPBROADCASTD c7fff, Z30  \
	VPBROADCASTD c1, Z29     \
	VPBROADCASTD chigh, Z28  \
	VPBROADCASTD cabs, Z27   \
	VPBROADCASTD cinf, Z26   \
	VPBROADCASTD cquiet, Z25
