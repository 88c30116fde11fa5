// BF16ROUND512 is BF16ROUNDF (bf16round_amd64.h) on 16 lanes: out is in
// rounded to bfloat16, or for a NaN the input with the quiet bit set and
// its low half cleared. Z30..Z25 hold 0x7fff, 1, 0xffff0000, 0x7fffffff,
// 0x7f800000 and 0x00400000; t is scratch and K1 is overwritten.
#define BF16ROUND512(in, out, t) \
	VPSRLD   $16, in, t          \
	VPANDD   Z29, t, t           \
	VPADDD   Z30, in, out        \
	VPADDD   t, out, out         \
	VPANDD   Z28, out, out       \
	VPANDD   Z27, in, t          \
	VPCMPGTD Z26, t, K1          \
	VPORD    Z25, in, t          \
	VPANDD   Z28, t, K1, out

// BF16CONSTS512 loads the constants of BF16ROUND512 from the file's DATA
// (prefix p: p7fff, p1, phigh, pabs, pinf, pquiet).
#define BF16CONSTS512(c7fff, c1, chigh, cabs, cinf, cquiet) \
	VPBROADCASTD c7fff, Z30  \
	VPBROADCASTD c1, Z29     \
	VPBROADCASTD chigh, Z28  \
	VPBROADCASTD cabs, Z27   \
	VPBROADCASTD cinf, Z26   \
	VPBROADCASTD cquiet, Z25
