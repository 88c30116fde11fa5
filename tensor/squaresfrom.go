package tensor

import "math"

// SquaresFromBF16 adds to sums[i][s], for every vector x = xs[i] and
// every s < 8, the squares of x rounded to bfloat16 at the positions where
// the magnitude bits of v (its float32 bits without the sign) are at least
// from[s], accumulated in float64 in index order:
//
//	for j := range v {
//		sq := float64(RoundBF16(x[j] * x[j]))
//		for s := range from {
//			if math.Float32bits(v[j])&^(1<<31) >= from[s] {
//				sums[i][s] += sq
//			}
//		}
//	}
//
// Each sums[i][s] is the chain of additions RoundedDotsBF16 makes for x
// paired with itself after x is zeroed where v is below from[s] (adding a
// zero square leaves a sum that is not −0 as it is): eight selections of
// the same vector summed in one pass. All xs and v must be as long.
func SquaresFromBF16(sums [][8]float64, xs [][]float32, v []float32, from *[8]uint32) {
	mustSameLen("SquaresFromBF16", len(sums), len(xs))
	for _, x := range xs {
		mustSameLen("SquaresFromBF16", len(v), len(x))
	}
	if len(xs) == 0 || len(v) == 0 {
		return
	}
	if !useAVX2 {
		squaresFromGeneric(sums, xs, v, from)
		return
	}
	// The magnitude bits are below 2^31: ≥ from is > from−1 as signed
	// integers, with from 0 as −1 and a from above 2^31−1 never reached.
	var gt [8]int32
	for s, f := range from {
		gt[s] = int32(min(int64(f)-1, math.MaxInt32))
	}
	// The positions whose v is below every bound add to no sum; with the
	// AVX-512 bodies they leave the sums as they are, so that dropping
	// them first shortens the chains of additions, whose latency bounds
	// the kernel, by their share.
	low := gt[0]
	for _, g := range gt {
		low = min(low, g)
	}
	compress := low >= 0 && compressSquares()
	var vc [dotsBlock]float32
	buf := dotsBufs.Get().(*[dotsRows * dotsBlock]float64)
	defer dotsBufs.Put(buf)
	rows := squaresFromGroup()
	for g := 0; g < len(xs); g += rows {
		group := xs[g:min(len(xs), g+rows)]
		var acc [squaresFromRows][8]float64
		copy(acc[:], sums[g:])
		for lo := 0; lo < len(v); lo += dotsBlock {
			hi := min(len(v), lo+dotsBlock)
			vb := v[lo:hi]
			if compress {
				for r, x := range group {
					squaresAbove(buf[r*dotsBlock:(r+1)*dotsBlock], x[lo:hi], vb, low)
				}
				vb = vc[:compressAbove(vc[:], vb, low)]
				if len(vb) == 0 {
					continue
				}
			} else {
				for r, x := range group {
					mulWidenBF16(buf[r*dotsBlock:r*dotsBlock+hi-lo], x[lo:hi], x[lo:hi])
				}
			}
			addRowsFrom(&acc, buf, len(group), vb, &gt)
		}
		copy(sums[g:g+len(group)], acc[:len(group)])
	}
}

// compressAboveGeneric copies the entries v[j], j ≥ from, whose magnitude
// bits are above gt as signed integers to dst from dst[k] on, in order,
// and returns k plus how many it copied.
func compressAboveGeneric(dst, v []float32, gt int32, from, k int) int {
	for _, a := range v[from:] {
		if int32(math.Float32bits(a)&^(1<<31)) > gt {
			dst[k] = a
			k++
		}
	}
	return k
}

// squaresAboveGeneric writes float64(RoundBF16(x[j]·x[j])), j ≥ from, to
// dst from dst[k] on, in order, where the magnitude bits of v[j] are above
// gt as signed integers, and returns k plus how many it wrote.
func squaresAboveGeneric(dst []float64, x, v []float32, gt int32, from, k int) int {
	x = x[:len(v)]
	for j := from; j < len(v); j++ {
		if int32(math.Float32bits(v[j])&^(1<<31)) > gt {
			dst[k] = float64(RoundBF16(x[j] * x[j]))
			k++
		}
	}
	return k
}

// squaresFromRows is the most vectors SquaresFromBF16 sums side by side
// (squaresFromGroup).
const squaresFromRows = 8

// squaresFromGeneric is SquaresFromBF16's loop.
func squaresFromGeneric(sums [][8]float64, xs [][]float32, v []float32, from *[8]uint32) {
	for i, x := range xs {
		x = x[:len(v)]
		acc := sums[i]
		for j, a := range v {
			sq := float64(RoundBF16(x[j] * x[j]))
			u := math.Float32bits(a) &^ (1 << 31)
			for s, f := range from {
				if u >= f {
					acc[s] += sq
				}
			}
		}
		sums[i] = acc
	}
}

// addRowsFromGeneric adds element j of row r of buf (rows of dotsBlock)
// to acc[r][s] where the magnitude bits of v[j] are above gt[s], for the
// first rows rows, in index order.
func addRowsFromGeneric(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, rows int, v []float32, gt *[8]int32) {
	for r := range rows {
		row := buf[r*dotsBlock : r*dotsBlock+len(v)]
		for j, a := range v {
			u := int32(math.Float32bits(a) &^ (1 << 31))
			for s, g := range gt {
				if u > g {
					acc[r][s] += row[j]
				}
			}
		}
	}
}

// MinMagnitude returns the smallest non-zero magnitude bits of x (the
// float32 bits without the sign), or 0 when every entry is ±0.
func MinMagnitude(x []float32) uint32 {
	return minMagnitude(x)
}

func minMagnitudeGeneric(x []float32) uint32 {
	m := uint32(math.MaxUint32)
	for _, a := range x {
		// u−1 wraps for ±0: it is then the largest, as if absent.
		m = min(m, math.Float32bits(a)&^(1<<31)-1)
	}
	return m + 1
}
