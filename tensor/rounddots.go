package tensor

import "sync"

// RoundedDotsBF16 adds to sums[p], for every pair p, the products of two
// of the vectors xs rounded to bfloat16, accumulated in float64 in index
// order, a = xs[pairs[p][0]] and b = xs[pairs[p][1]]:
//
//	for j := range a {
//		sums[p] += float64(RoundBF16(a[j] * b[j]))
//	}
//
// A pair may name one vector twice (its rounded squares). All the pairs
// are summed in one pass over each block of the vectors, their chains of
// additions side by side, so that the cost is that of one chain rather
// than of one per pair; the order of every chain's additions is the loop's.
// All xs must be as long as xs[0]; len(sums) must be len(pairs).
func RoundedDotsBF16(sums []float64, xs [][]float32, pairs [][2]int) {
	if len(sums) != len(pairs) {
		panic("tensor: RoundedDotsBF16: one sum per pair")
	}
	if len(pairs) == 0 {
		return
	}
	n := len(xs[0])
	for _, x := range xs {
		mustSameLen("RoundedDotsBF16", n, len(x))
	}
	for _, p := range pairs {
		_, _ = xs[p[0]], xs[p[1]]
	}
	if !useAVX2 {
		roundedDotsGeneric(sums, xs, pairs)
		return
	}
	buf := dotsBufs.Get().(*[dotsRows * dotsBlock]float64)
	defer dotsBufs.Put(buf)
	// More than dotsRows pairs sweep the vectors once per group of them.
	for g := 0; g < len(pairs); g += dotsRows {
		group := pairs[g:min(len(pairs), g+dotsRows)]
		var acc [dotsRows]float64
		copy(acc[:], sums[g:])
		for lo := 0; lo < n; lo += dotsBlock {
			hi := min(n, lo+dotsBlock)
			for r, p := range group {
				mulWidenBF16(buf[r*dotsBlock:r*dotsBlock+hi-lo], xs[p[0]][lo:hi], xs[p[1]][lo:hi])
			}
			addRows(&acc, buf, len(group), hi-lo)
		}
		copy(sums[g:g+len(group)], acc[:])
	}
}

// dotsRows is how many chains RoundedDotsBF16 runs side by side, and
// dotsBlock how many elements of each it widens into a row of a buffer
// before adding them: dotsRows·dotsBlock float64s (24 KiB) stay in the L1
// cache with the blocks of the inputs.
const (
	dotsRows  = 12
	dotsBlock = 256
)

// dotsBufs holds RoundedDotsBF16's buffers, reused rather than cleared on
// every call (model_stock's filter_wise makes one call per row).
var dotsBufs = sync.Pool{New: func() any { return new([dotsRows * dotsBlock]float64) }}

// roundedDotsGeneric is RoundedDotsBF16's loop, pair by pair.
func roundedDotsGeneric(sums []float64, xs [][]float32, pairs [][2]int) {
	for i, p := range pairs {
		a, b := xs[p[0]], xs[p[1]]
		b = b[:len(a)]
		s := sums[i]
		for j := range a {
			s += float64(RoundBF16(a[j] * b[j]))
		}
		sums[i] = s
	}
}

// mulWidenBF16Generic writes float64(RoundBF16(x[j]*y[j])) into dst[j].
func mulWidenBF16Generic(dst []float64, x, y []float32) {
	y = y[:len(x)]
	dst = dst[:len(x)]
	for j := range x {
		dst[j] = float64(RoundBF16(x[j] * y[j]))
	}
}

// addRowsGeneric adds the first n elements of row r of buf (rows of
// dotsBlock) to acc[r] in index order, for the first rows rows.
func addRowsGeneric(acc *[dotsRows]float64, buf *[dotsRows * dotsBlock]float64, rows, n int) {
	for r := range rows {
		s := acc[r]
		for _, v := range buf[r*dotsBlock : r*dotsBlock+n] {
			s += v
		}
		acc[r] = s
	}
}
