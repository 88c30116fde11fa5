package tensor

// MeanBlendBF16Bytes writes into out model_stock's merge of bfloat16
// inputs as stored (little-endian bytes, two per element): the mean of xs,
// summed and divided as mergekit does, blended with base by ratio and keep,
// every step rounded to bfloat16. It writes the bits of this sequence of
// kernels (on the CPU they run, with their operand orders):
//
//	Decode(out, xs[0], BF16)
//	for _, x := range xs[1:] {
//		Decode(w, x, BF16)
//		Add(out, w)
//		Round(BF16, out)
//	}
//	DivScalarRound(BF16, out, float32(len(xs)))
//	ScaleRound(BF16, out, ratio)
//	Decode(b, base, BF16)
//	AxpyRound(BF16, out, keep, b)
//	Round(BF16, out)
//
// in one pass over the inputs, each element's steps in registers. xs must
// not be empty; every input must hold 2·len(out) bytes.
func MeanBlendBF16Bytes(out []float32, xs [][]byte, base []byte, ratio, keep float32) {
	if len(xs) == 0 {
		panic("tensor: MeanBlendBF16Bytes: no inputs")
	}
	mustSameLen("MeanBlendBF16Bytes", 2*len(out), len(base))
	for _, x := range xs {
		mustSameLen("MeanBlendBF16Bytes", 2*len(out), len(x))
	}
	n := 0
	if useAVX2 {
		n = meanBlendBF16Wide(out, xs, base, ratio, keep)
		if m := len(out) &^ 7; m > n {
			meanBlendBF16AVX2(out[n:m], shiftBytes(xs, 2*n), base[2*n:], float32(len(xs)), ratio, keep)
			n = m
		}
	}
	for lo := n; lo < len(out); lo += meanBlendBlock {
		hi := min(len(out), lo+meanBlendBlock)
		meanBlendBF16Steps(out[lo:hi], xs, base, lo, ratio, keep)
	}
}

// shiftBytes returns the inputs from byte off on (the AVX2 body's tail
// after the AVX-512 one's 16-lane vectors).
func shiftBytes(xs [][]byte, off int) [][]byte {
	if off == 0 {
		return xs
	}
	ys := make([][]byte, len(xs))
	for i, x := range xs {
		ys[i] = x[off:]
	}
	return ys
}

// meanBlendBlock is the block meanBlendBF16Steps works in.
const meanBlendBlock = 256

// meanBlendBF16Steps runs MeanBlendBF16Bytes's sequence of kernels on out
// (at most meanBlendBlock long), from element off of the inputs.
func meanBlendBF16Steps(out []float32, xs [][]byte, base []byte, off int, ratio, keep float32) {
	var w [meanBlendBlock]float32
	n := len(out)
	at := func(x []byte) []byte { return x[2*off : 2*(off+n)] }
	mustDecode(out, at(xs[0]))
	for _, x := range xs[1:] {
		mustDecode(w[:n], at(x))
		Add(out, w[:n])
		Round(BF16, out)
	}
	DivScalarRound(BF16, out, float32(len(xs)))
	ScaleRound(BF16, out, ratio)
	mustDecode(w[:n], at(base))
	AxpyRound(BF16, out, keep, w[:n])
	Round(BF16, out)
}

// mustDecode decodes bfloat16 bytes of the right length, which cannot fail.
func mustDecode(dst []float32, src []byte) {
	if err := Decode(dst, src, BF16); err != nil {
		panic(err)
	}
}
