package tensor

import (
	"encoding/binary"
	"math"
)

// EraseMergeBF16 is SCE's erase step (Wan et al., arXiv:2408.07990) on
// bfloat16 tensors as stored (little-endian bytes, two per element), in
// one pass that keeps the task vectors of each group of positions in
// registers or the L1 cache: with τ_i = round(xs[i] − base), zeroed where
// mask (when not nil) has no bit set, it writes
//
//	σ = r(Σ_i τ_i)    (summed in float32 in input order from +0)
//	num = Σ_i [τ_i ≠ 0, sign(τ_i) elected by σ] r(τ_i·q[i]),  den likewise of q[i]
//	out = r(base + r(r(num)/max(r(den), eps)))
//
// every r a rounding to bfloat16. It gives the bytes of the calls it
// replaces (tvs[i] and the rest scratch of len(out)):
//
//	SubBF16Bytes(tvs[i], xs[i], base)  // and KeepBits(tvs[i], mask) with a mask
//	Add(sum, tvs[i])                   // for every i, sum and num and den from +0
//	Round(BF16, sum)
//	AddElectedRound(BF16, num, den, tvs[i], sum, q[i])  // for every i
//	Decode(b, base, BF16)
//	DivMaxAddRound(BF16, out, b, num, den, eps)
//
// eps must be > 0. It panics if base or an input does not hold
// 2·len(out) bytes, if q is not as long as xs, or if mask is not nil and
// holds fewer than len(out) bits.
func EraseMergeBF16(out []float32, xs [][]byte, base []byte, mask []uint64, q []float32, eps float32) {
	n := len(out)
	mustSameLen("EraseMergeBF16", 2*n, len(base))
	mustSameLen("EraseMergeBF16", len(xs), len(q))
	for _, x := range xs {
		mustSameLen("EraseMergeBF16", 2*n, len(x))
	}
	if mask != nil && n > 0 {
		_ = mask[(n-1)>>6]
	}
	m := eraseMerge(out, xs, base, mask, q, eps)
	eraseMergeBF16Generic(out, xs, base, mask, q, eps, m)
}

// eraseMergeBF16Generic is EraseMergeBF16 element by element, from
// element from on.
func eraseMergeBF16Generic(out []float32, xs [][]byte, base []byte, mask []uint64, q []float32, eps float32, from int) {
	var tv [64]float32
	tvs := tv[:0]
	if len(xs) > len(tv) {
		tvs = make([]float32, 0, len(xs))
	}
	bf16 := func(raw []byte, j int) float32 {
		return math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*j:])) << 16)
	}
	r := RoundBF16
	for j := from; j < len(out); j++ {
		b := bf16(base, j)
		keep := mask == nil || mask[j>>6]>>(j&63)&1 != 0
		var sum float32
		tvs = tvs[:0]
		for _, x := range xs {
			var t float32
			if keep {
				t = r(bf16(x, j) - b)
			}
			tvs = append(tvs, t)
			sum += t
		}
		sum = r(sum)
		var num, den float32
		for i, t := range tvs {
			var p, w float32
			if t != 0 && (t > 0) == (sum >= 0) {
				p, w = r(t*q[i]), q[i]
			}
			num += p
			den += w
		}
		out[j] = r(b + r(r(num)/max(r(den), eps)))
	}
}
