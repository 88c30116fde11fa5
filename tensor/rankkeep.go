package tensor

import "math"

// BF16Keys is the number of magnitude keys of bfloat16 values, the high 16
// bits of a float32 without its sign: the size of RankKeep's next table.
const BF16Keys = 1 << 15

// RankKeep is the drop walk of a rank-biased random mask (della's) over
// bfloat16 values in index order: element j's key k (the high 16 bits of
// its magnitude) gets rank next[k], next[k] is incremented, and the
// element is kept when draws[j] ≤ limits[rank], else zeroed (to +0). Bit
// j%16 of keep[j/16] is set for every element kept (the other bits of
// those words are left as they are). With next holding the prefix sums
// of a histogram of the keys, the ranks are those of a stable sort by
// magnitude:
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
