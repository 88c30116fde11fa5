// BF16ROUNDF is roundBF16Scalar: kernels_amd64.s's BF16ROUND leaving
// float32 bits, the rounded value with its low half cleared, or for a NaN
// the input with the quiet bit set and its low half cleared. Y14..Y9 hold
// 0x7fff, 1, 0xffff0000, 0x7fffffff, 0x7f800000 and 0x00400000. Macros
// are local to a file: the assembly files that use it include this one.
#define BF16ROUNDF(in, out, t1, t2) \
	VPSRLD    $16, in, t1        \
	VPAND     Y13, t1, t1        \
	VPADDD    Y14, in, out       \
	VPADDD    t1, out, out       \
	VPAND     Y12, out, out      \
	VPOR      Y9, in, t1         \
	VPAND     Y12, t1, t1        \
	VPAND     Y11, in, t2        \
	VPCMPGTD  Y10, t2, t2        \
	VPBLENDVB t2, t1, out, out
