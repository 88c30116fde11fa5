package tensor

import (
	"math"
	"math/bits"
)

// A sum of float64s added one after another in index order rounds after
// every addition, so in general only a sequential chain of additions gives
// its bits. But when no partial sum of the chain rounds, the chain's result
// is the exact sum, which any order of exact additions gives too. The
// kernels below sum blocks of inOrderBlock elements in vector lanes,
// together with what proves that the chain would have been exact over the
// block (lanesSum.exactFrom); a block that lacks the proof is summed again
// one element after another.

// inOrderBlock is how many elements SumInOrder and RoundedDotsBF16Exact
// prove exact at a time: a block that fails is summed again sequentially,
// and the bound the proof uses grows with the block.
const inOrderBlock = 1024

// SumInOrder returns s plus the elements of x, each widened to float64 and
// added in index order, bit for bit as the loop
//
//	for _, v := range x {
//		s += float64(v)
//	}
//
// but in vector lanes wherever that loop's additions are all exact (see
// lanesSum.exactFrom), which is the common case for values of few
// significant bits, such as bfloat16 products, added to a sum of many of
// them.
func SumInOrder(s float64, x []float32) float64 {
	if !useAVX2 || !useAVX512 {
		return sumInOrderGeneric(s, x)
	}
	for lo := 0; lo < len(x); lo += inOrderBlock {
		b := x[lo:min(len(x), lo+inOrderBlock)]
		if c := lanesSumOf(b); c.exactFrom(s, len(b)) {
			s += c.sum
		} else {
			s = sumInOrderGeneric(s, b)
		}
	}
	return s
}

// RoundedDotsBF16Exact is RoundedDotsBF16: it adds to sums[p] the products
// of xs[pairs[p][0]] and xs[pairs[p][1]] rounded to bfloat16, in float64
// in index order, with the same result bit for bit. Each pair's products
// are summed in vector lanes block by block where the chain of additions
// is exact (as SumInOrder), without the chains of RoundedDotsBF16.
func RoundedDotsBF16Exact(sums []float64, xs [][]float32, pairs [][2]int) {
	if !useAVX2 || !useAVX512 {
		RoundedDotsBF16(sums, xs, pairs)
		return
	}
	if len(sums) != len(pairs) {
		panic("tensor: RoundedDotsBF16Exact: one sum per pair")
	}
	if len(pairs) == 0 {
		return
	}
	n := len(xs[0])
	for _, x := range xs {
		mustSameLen("RoundedDotsBF16Exact", n, len(x))
	}
	for _, p := range pairs {
		_, _ = xs[p[0]], xs[p[1]]
	}
	for lo := 0; lo < n; lo += inOrderBlock {
		hi := min(n, lo+inOrderBlock)
		for i, p := range pairs {
			a, b := xs[p[0]][lo:hi], xs[p[1]][lo:hi]
			if c := roundedDotLanesOf(a, b); c.exactFrom(sums[i], hi-lo) {
				sums[i] += c.sum
			} else {
				sums[i] = roundedDotGeneric(sums[i], a, b)
			}
		}
	}
}

// lanesSum summarizes a run of float32 values for the proof that adding
// them to a float64 one after another rounds nowhere: their sum (in any
// order), the bits of the largest magnitude, those of the smallest
// non-zero magnitude minus one (2^32−1 when all are zero) and the OR of
// all their bits. The assembly writes it: keep the layout.
type lanesSum struct {
	sum     float64
	maxAbs  uint32
	minAbs1 uint32
	or      uint32
	_       uint32
}

// newLanesSum is the summary of no values.
func newLanesSum() lanesSum { return lanesSum{minAbs1: math.MaxUint32} }

// add adds v to the summary.
func (c *lanesSum) add(v float32) {
	b := math.Float32bits(v)
	a := b &^ (1 << 31)
	c.sum += float64(v)
	c.maxAbs = max(c.maxAbs, a)
	c.minAbs1 = min(c.minAbs1, a-1)
	c.or |= b
}

// merge adds the values summarized by d.
func (c *lanesSum) merge(d lanesSum) {
	c.sum += d.sum
	c.maxAbs = max(c.maxAbs, d.maxAbs)
	c.minAbs1 = min(c.minAbs1, d.minAbs1)
	c.or |= d.or
}

// exactFrom reports whether adding the n summarized values to s one after
// another in float64 would round no partial sum, so that s + c.sum (each
// of c.sum's additions exact too) is that chain's result bit for bit.
//
// Every value and s are multiples of 2^E, E the lowest exponent of their
// last set bits: s's own, and for the float32 values at least the
// smallest non-zero magnitude's exponent less 23 plus the trailing zeros
// of the OR of all significands (16 or more for bfloat16 values). A sum
// built exactly from such values keeps their coarse last bit, so the proof
// goes on holding from block to block until the exact sum would need more
// than 53 bits. Every
// partial sum, in any order, is then a multiple of 2^E no larger in
// magnitude than |s| + n·max|v|, and a float64 holds every multiple of 2^E
// below 2^(E+53) exactly. NaNs and infinities fail the proof, and so does
// s = −0 (−0 + +0 is +0, which the lanes' +0 start does not keep).
func (c *lanesSum) exactFrom(s float64, n int) bool {
	if c.maxAbs >= 0x7f800000 || math.IsInf(s, 0) || math.IsNaN(s) {
		return false
	}
	e := 2000 // no bound
	if s != 0 {
		b := math.Float64bits(s)
		exp, frac := int(b>>52&0x7ff), b&(1<<52-1)
		if exp != 0 {
			frac |= 1 << 52
		}
		e = max(exp, 1) - 1075 + bits.TrailingZeros64(frac)
	} else if math.Signbit(s) {
		return false
	}
	if c.minAbs1 != math.MaxUint32 {
		m := c.minAbs1 + 1
		ev := max(int(m>>23), 1) - 150 + bits.TrailingZeros32(c.or&0x7fffff|1<<23)
		e = min(e, ev)
	}
	if e+53 > 1023 {
		return true
	}
	bound := math.Abs(s) + float64(n)*float64(math.Float32frombits(c.maxAbs))
	return bound < math.Ldexp(1, e+53)
}

// sumInOrderGeneric is SumInOrder's loop.
func sumInOrderGeneric(s float64, x []float32) float64 {
	for _, v := range x {
		s += float64(v)
	}
	return s
}

// roundedDotGeneric adds the products of a and b rounded to bfloat16 to s,
// in index order.
func roundedDotGeneric(s float64, a, b []float32) float64 {
	b = b[:len(a)]
	for j := range a {
		s += float64(RoundBF16(a[j] * b[j]))
	}
	return s
}

// lanesSumGeneric summarizes x.
func lanesSumGeneric(x []float32) lanesSum {
	c := newLanesSum()
	for _, v := range x {
		c.add(v)
	}
	return c
}

// roundedDotLanesGeneric summarizes the products of a and b rounded to
// bfloat16.
func roundedDotLanesGeneric(a, b []float32) lanesSum {
	b = b[:len(a)]
	c := newLanesSum()
	for j := range a {
		c.add(RoundBF16(a[j] * b[j]))
	}
	return c
}
