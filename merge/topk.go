package merge

import "math"

// magnitudeBits is |x| as an unsigned integer: for non-negative floats the
// bit patterns order like the values, so selecting by magnitude is
// selecting integers (NaNs order above +Inf).
func magnitudeBits(x float32) uint32 { return math.Float32bits(x) &^ (1 << 31) }

// topKThreshold finds, for the k (1 ≤ k ≤ len(x)) entries of largest
// magnitude, the magnitude bits thr of the k-th largest and how many
// entries equal to it are kept (ties), so that keeping every entry above
// thr plus the first ties entries at thr keeps exactly k. It is a two-pass
// radix selection over 16-bit digits: three linear passes, no sorting and
// no copy of x.
func topKThreshold(x []float32, k int) (thr uint32, ties int) {
	var hist [1 << 16]int
	for _, v := range x {
		hist[magnitudeBits(v)>>16]++
	}
	hi, above := 0, 0
	for b := len(hist) - 1; b >= 0; b-- {
		if above+hist[b] >= k {
			hi = b
			break
		}
		above += hist[b]
	}
	clear(hist[:])
	for _, v := range x {
		if u := magnitudeBits(v); int(u>>16) == hi {
			hist[u&0xffff]++
		}
	}
	for b := len(hist) - 1; b >= 0; b-- {
		if above+hist[b] >= k {
			return uint32(hi)<<16 | uint32(b), k - above
		}
		above += hist[b]
	}
	return 0, 0 // unreachable for 1 ≤ k ≤ len(x)
}

// keepTopK zeroes every entry of x but the k of largest magnitude; among
// entries equal to the threshold the first ones in index order are kept.
func keepTopK(x []float32, k int) {
	thr, ties := topKThreshold(x, k)
	for j, v := range x {
		u := magnitudeBits(v)
		if u == thr {
			if ties > 0 {
				ties--
			} else {
				x[j] = 0
			}
			continue
		}
		// Branch-free: keep is all ones when u > thr. Magnitudes are below
		// 2³¹, so thr−u fits an int32 and its sign says which is larger.
		keep := uint32(int32(thr-u) >> 31)
		x[j] = math.Float32frombits(math.Float32bits(v) & keep)
	}
}
