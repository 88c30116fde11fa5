package tensor

import "math"

// BF16Keys is the number of magnitude keys of bfloat16 values, the high 16
// bits of a float32 without its sign: the size of the tables of
// CountKeys, ScanKeys and RankKeep.
const BF16Keys = 1 << 15

// CountKeys is the counting pass of a stable counting sort of bfloat16
// magnitudes: it adds each element's key k (the high 16 bits of its
// magnitude) to the histogram hist:
//
//	for _, v := range x {
//		u := math.Float32bits(v)
//		bits |= u
//		hist[u>>16&(BF16Keys-1)]++
//	}
//
// It returns the OR of the bits of all elements (low 16 bits set there
// say that some value is not a bfloat16), the smallest key other than 0
// (BF16Keys when there is none) and the largest key (0 when there is
// none), the span ScanKeys needs to cover besides key 0.
func CountKeys(x []float32, hist *[BF16Keys]int32) (bits uint32, lo, hi int) {
	return countKeys(x, hist)
}

func countKeysGeneric(x []float32, hist *[BF16Keys]int32) (bits uint32, lo, hi int) {
	countKeysLoop(x, hist)
	return keySpan(keySpanGeneric(x, 0, ^uint32(0), 0))
}

// countKeysLoop is CountKeys's histogram alone: the OR and the smallest
// and largest key would chain it from element to element (a compare and
// a conditional move each), so they are taken in a pass of their own.
func countKeysLoop(x []float32, hist *[BF16Keys]int32) {
	for _, v := range x {
		hist[math.Float32bits(v)>>16&(BF16Keys-1)]++
	}
}

// keySpanGeneric folds x into bits (the OR of all elements), lowest (the
// smallest key less one, unsigned: key 0 wraps to the largest value and
// is never the minimum) and highest (the largest key). Four elements at a
// time into four of each: one chain of compares and conditional moves
// would take two steps per element.
func keySpanGeneric(x []float32, bits, lowest, highest uint32) (uint32, uint32, uint32) {
	l0, l1, l2, l3 := lowest, lowest, lowest, lowest
	h0, h1, h2, h3 := highest, highest, highest, highest
	b0, b1 := bits, uint32(0)
	j := 0
	for ; j+4 <= len(x); j += 4 {
		u0, u1, u2, u3 := math.Float32bits(x[j]), math.Float32bits(x[j+1]), math.Float32bits(x[j+2]), math.Float32bits(x[j+3])
		b0 |= u0 | u1
		b1 |= u2 | u3
		k0, k1, k2, k3 := u0>>16&(BF16Keys-1), u1>>16&(BF16Keys-1), u2>>16&(BF16Keys-1), u3>>16&(BF16Keys-1)
		l0, l1, l2, l3 = min(l0, k0-1), min(l1, k1-1), min(l2, k2-1), min(l3, k3-1)
		h0, h1, h2, h3 = max(h0, k0), max(h1, k1), max(h2, k2), max(h3, k3)
	}
	for ; j < len(x); j++ {
		u := math.Float32bits(x[j])
		b0 |= u
		k := u >> 16 & (BF16Keys - 1)
		l0, h0 = min(l0, k-1), max(h0, k)
	}
	return b0 | b1, min(l0, l1, l2, l3), max(h0, h1, h2, h3)
}

// keySpan returns CountKeys's results from keySpanGeneric's.
func keySpan(bits, lowest, highest uint32) (uint32, int, int) {
	if lowest == ^uint32(0) {
		return bits, BF16Keys, int(highest)
	}
	return bits, int(lowest) + 1, int(highest)
}

// ScanKeys turns the histogram counts of keys a to b−1 into exclusive
// prefix sums starting from sum, in prefix, and zeroes those counts; it
// returns sum plus their total:
//
//	for k := a; k < b; k++ {
//		prefix[k] = sum
//		sum += hist[k]
//		hist[k] = 0
//	}
//
// a and b are multiples of 16 with 0 ≤ a ≤ b ≤ BF16Keys.
func ScanKeys(hist, prefix *[BF16Keys]int32, a, b int, sum int32) int32 {
	if a < 0 || a > b || b > BF16Keys || a%16 != 0 || b%16 != 0 {
		panic("tensor.ScanKeys: span not aligned to 16 keys or outside the table")
	}
	return scanKeys(hist, prefix, a, b, sum)
}

func scanKeysGeneric(hist, prefix *[BF16Keys]int32, a, b int, sum int32) int32 {
	for k := a; k < b; k++ {
		prefix[k] = sum
		sum += hist[k]
		hist[k] = 0
	}
	return sum
}

// RankKeep is the drop walk of a rank-biased random mask (della's) over
// bfloat16 values in index order: element j's key k (the high 16 bits of
// its magnitude) gets rank next[k], next[k] is incremented, and the
// element is kept when draws[j] ≤ limits[rank], else zeroed (to +0). Bit
// j%16 of keep[j/16] is set for every element kept (the other bits of
// those words are left as they are). With next holding the prefix sums
// of a histogram of the keys (CountKeys, ScanKeys), the ranks are those
// of a stable sort by magnitude:
//
//	for j := range x {
//		u := math.Float32bits(x[j])
//		k := u >> 16 & (BF16Keys - 1)
//		rank := next[k]
//		next[k]++
//		if draws[j] <= limits[rank] {
//			keep[j/16] |= 1 << (j % 16)
//		} else {
//			x[j] = 0
//		}
//	}
//
// Every rank handed out must index limits.
func RankKeep(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16) {
	if len(draws) < len(x) || len(keep) < (len(x)+15)/16 {
		panic("tensor.RankKeep: draws or keep shorter than x")
	}
	rankKeep(x, draws, next, limits, keep)
}

// RankKeepAbsSum is RankKeep followed by sum.Add(x) (the magnitudes of
// the elements kept, as the dropped ones are zero), with the sums taken
// in the walk while each 16 elements are in registers:
//
//	RankKeep(x, draws, next, limits, keep)
//	sum.Add(x)
//
// sum must take parts (AbsSum.Add) and the parts added before must be
// multiples of 16 elements.
func RankKeepAbsSum(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16, sum *AbsSum) {
	if len(draws) < len(x) || len(keep) < (len(x)+15)/16 {
		panic("tensor.RankKeepAbsSum: draws or keep shorter than x")
	}
	if sum.odd {
		panic("tensor.RankKeepAbsSum: a part after one not a multiple of 16 elements")
	}
	rankKeepAbsSum(x, draws, next, limits, keep, sum)
}

// RankKeepAbsSums is RankKeepAbsSum that also adds the magnitudes of x
// before the drop to all, from the loads of the walk:
//
//	all.Add(x)
//	RankKeep(x, draws, next, limits, keep)
//	kept.Add(x)
//
// all and kept must take parts (AbsSum.Add) and the parts added before
// must be multiples of 16 elements.
func RankKeepAbsSums(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16, all, kept *AbsSum) {
	if len(draws) < len(x) || len(keep) < (len(x)+15)/16 {
		panic("tensor.RankKeepAbsSums: draws or keep shorter than x")
	}
	if all.odd || kept.odd {
		panic("tensor.RankKeepAbsSums: a part after one not a multiple of 16 elements")
	}
	rankKeepAbsSums(x, draws, next, limits, keep, all, kept)
}

func rankKeepAbsSumsGeneric(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16, all, kept *AbsSum) {
	all.Add(x)
	rankKeepGeneric(x, draws, next, limits, keep)
	kept.Add(x)
}

func rankKeepAbsSumGeneric(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16, sum *AbsSum) {
	rankKeepGeneric(x, draws, next, limits, keep)
	sum.Add(x)
}

func rankKeepGeneric(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16) {
	draws = draws[:len(x)]
	// Each word's bits gather in a register and are ored in once: a
	// read-modify-write of keep per element would chain the elements.
	for g := 0; g < len(x); g += 16 {
		var w uint16
		for j := g; j < min(len(x), g+16); j++ {
			u := math.Float32bits(x[j])
			k := u >> 16 & (BF16Keys - 1)
			rank := next[k]
			next[k] = rank + 1
			kept := b2u(draws[j] <= limits[rank]) // without branches: the outcomes are random
			x[j] = math.Float32frombits(u & -kept)
			w |= uint16(kept) << (j - g)
		}
		keep[g/16] |= w
	}
}
