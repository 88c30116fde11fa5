package tensor

// Element-wise kernels over float32 buffers. Each rounds every product and
// sum to float32 separately, never fusing a multiply and an add, so that
// results match PyTorch's one-op-at-a-time evaluation (see the package
// documentation). Slices given together must have equal lengths; a mismatch
// is a programming error and panics.

// Axpy adds a times x to dst, element by element:
//
//	for i := range dst {
//		dst[i] += float32(a * x[i])
//	}
//
// The product is rounded to float32 before the add, as torch's
// acc + a*x does, so Axpy never uses fused multiply-add.
func Axpy(dst []float32, a float32, x []float32) {
	mustSameLen("Axpy", len(dst), len(x))
	axpy(dst, a, x)
}

// Scale multiplies dst by a in place:
//
//	for i := range dst {
//		dst[i] *= a
//	}
func Scale(dst []float32, a float32) {
	scale(dst, a)
}

// Add adds x to dst in place:
//
//	for i := range dst {
//		dst[i] += x[i]
//	}
func Add(dst, x []float32) {
	mustSameLen("Add", len(dst), len(x))
	add(dst, x)
}

// Sub stores the difference of a and b in dst; dst may be a or b:
//
//	for i := range dst {
//		dst[i] = a[i] - b[i]
//	}
func Sub(dst, a, b []float32) {
	mustSameLen("Sub", len(dst), len(a))
	mustSameLen("Sub", len(dst), len(b))
	sub(dst, a, b)
}

// Dot returns the dot product of a and b. Each product is exact in float64
// and the sum is accumulated in float64, in order:
//
//	var s float64
//	for i := range a {
//		s += float64(a[i]) * float64(b[i])
//	}
//
// The AVX2 implementation on amd64 adds in 16 float64 lanes and combines
// them at the end, so the result can differ from the in-order sum in the
// last bits; float64 accumulation keeps the difference far below float32
// resolution for tensor-sized inputs.
func Dot(a, b []float32) float64 {
	mustSameLen("Dot", len(a), len(b))
	return dot(a, b)
}

// SumAbs returns the sum of |x[i]|, accumulated in float64, in order:
//
//	var s float64
//	for _, v := range x {
//		s += math.Abs(float64(v))
//	}
//
// As for Dot, a SIMD implementation may add in another order.
func SumAbs(x []float32) float64 {
	return sumAbs(x)
}

// SumSquares returns the sum of x[i]², each square exact in float64 and the
// sum accumulated in float64, in order:
//
//	var s float64
//	for _, v := range x {
//		s += float64(v) * float64(v)
//	}
//
// As for Dot, a SIMD implementation may add in another order.
func SumSquares(x []float32) float64 {
	return sumSquares(x)
}

// SumSquaresBlock is the piece granularity of SumSquaresAcc: every piece
// but the last must be a whole number of blocks.
const SumSquaresBlock = 16

// SumSquaresAcc computes SumSquares of a slice handed over in consecutive
// pieces, with the very bits SumSquares returns for the whole slice (the
// order of its additions, SIMD lanes included, is kept): Add the pieces
// in order, every one but the last a whole number of SumSquaresBlock
// elements long, then call Sum. The zero value is ready to use.
type SumSquaresAcc struct {
	lanes [SumSquaresBlock]float64
	rest  float64 // the last len&3 squares, summed on their own
	last  bool    // a piece not a whole number of blocks has been added
}

// Add adds the squares of the next piece. It panics if the piece is not
// empty and an earlier one was not a whole number of SumSquaresBlock
// elements.
func (a *SumSquaresAcc) Add(x []float32) {
	if len(x) == 0 {
		return
	}
	if a.last {
		panic("tensor: SumSquaresAcc.Add after a piece that is not a whole number of blocks")
	}
	if !useAVX2 {
		// sumSquaresGeneric's order: one running sum.
		for _, v := range x {
			a.lanes[0] += float64(float64(v) * float64(v))
		}
		a.last = len(x)%SumSquaresBlock != 0
		return
	}
	n := len(x) &^ (SumSquaresBlock - 1)
	sumSquaresLanes(&a.lanes, x[:n])
	if n == len(x) {
		return
	}
	// The tail as sumSquaresAVX2 and sumSquares treat it: groups of four
	// into the first four lanes, the last len&3 in a sum of their own.
	a.last = true
	x = x[n:]
	m := len(x) &^ 3
	for i := 0; i < m; i += 4 {
		for j := range 4 {
			a.lanes[j] += float64(float64(x[i+j]) * float64(x[i+j]))
		}
	}
	a.rest = sumSquaresGeneric(x[m:])
}

// Sum returns the sum of the squares of the pieces added so far, as
// SumSquares returns it for their concatenation.
func (a *SumSquaresAcc) Sum() float64 {
	if !useAVX2 {
		return a.lanes[0]
	}
	return foldLanes(func(j int) float64 { return a.lanes[j] }) + a.rest
}

// foldLanes adds up the SumSquaresBlock lane sums l(0), l(1), … as SUM4
// in kernels_amd64.s does: the four vectors lane by lane, then the upper
// half onto the lower, then the two lanes left.
func foldLanes(l func(j int) float64) float64 {
	var v [4]float64
	for j := range v {
		v[j] = (l(j) + l(4+j)) + (l(8+j) + l(12+j))
	}
	return (v[0] + v[2]) + (v[1] + v[3])
}

// SumSquaresCols computes SumSquares of every column of a row-major matrix
// handed over in consecutive pieces of whole rows, with the bits
// SumSquares returns for each column gathered into a slice of its own.
type SumSquaresCols struct {
	rows, cols, row int
	// lanes[j*cols+k] is lane j of column k's sum, as SumSquaresAcc's
	// lanes (lane 0 the whole sum without assembly); rest[k] the sum of
	// its last rows&3 squares.
	lanes, rest []float64
}

// NewSumSquaresCols returns the sums for a rows×cols matrix.
func NewSumSquaresCols(rows, cols int) *SumSquaresCols {
	return &SumSquaresCols{rows: rows, cols: cols,
		lanes: make([]float64, SumSquaresBlock*cols), rest: make([]float64, cols)}
}

// Add adds the squares of the next whole rows. It panics if x is not a
// whole number of rows or goes past the last one.
func (a *SumSquaresCols) Add(x []float32) {
	if a.cols == 0 || len(x)%a.cols != 0 || a.row+len(x)/a.cols > a.rows {
		panic("tensor: SumSquaresCols.Add: not whole rows of the matrix")
	}
	// Row r goes where SumSquares puts element r of a column: lane r mod
	// 16 in whole blocks, lane r mod 4 in the groups of four after them,
	// the rest on its own (without assembly, all in one sum).
	blocks, groups := a.rows&^(SumSquaresBlock-1), a.rows&^3
	for ; len(x) > 0; x, a.row = x[a.cols:], a.row+1 {
		var acc []float64
		switch r := a.row; {
		case !useAVX2:
			acc = a.lanes[:a.cols]
		case r < blocks:
			j := r % SumSquaresBlock
			acc = a.lanes[j*a.cols : (j+1)*a.cols]
		case r < groups:
			j := r % 4
			acc = a.lanes[j*a.cols : (j+1)*a.cols]
		default:
			acc = a.rest
		}
		addSquares(acc, x[:a.cols])
	}
}

// Sum returns column k's sum of squares once every row has been added.
func (a *SumSquaresCols) Sum(k int) float64 {
	l := func(j int) float64 { return a.lanes[j*a.cols+k] }
	if !useAVX2 {
		return l(0)
	}
	return foldLanes(l) + a.rest[k]
}

func mustSameLen(op string, n, m int) {
	if n != m {
		panic("tensor: " + op + ": slice lengths differ")
	}
}

// AddAgreeing adds to sum the elements of x that are non-zero and have the
// sign of the corresponding element of sign, and adds w to weight where it
// does — the disjoint sum of TIES merging (an x of +0 or -0 never counts;
// a sign of zero elects +):
//
//	for i := range sum {
//		if x[i] != 0 && (x[i] < 0) == (sign[i] < 0) {
//			sum[i] += x[i]
//			weight[i] += w
//		}
//	}
func AddAgreeing(sum, weight, x, sign []float32, w float32) {
	mustSameLen("AddAgreeing", len(sum), len(weight))
	mustSameLen("AddAgreeing", len(sum), len(x))
	mustSameLen("AddAgreeing", len(sum), len(sign))
	addAgreeing(sum, weight, x, sign, w)
}

// DivNonZero divides dst by div where div is not zero and leaves it
// unchanged elsewhere:
//
//	for i := range dst {
//		if div[i] != 0 {
//			dst[i] /= div[i]
//		}
//	}
func DivNonZero(dst, div []float32) {
	mustSameLen("DivNonZero", len(dst), len(div))
	divNonZero(dst, div)
}

// KeepBelow zeroes the elements of x whose draw is not below bound and
// returns how many it kept — a Bernoulli mask from uniform uint32 draws:
//
//	for i := range x {
//		if draws[i] >= bound {
//			x[i] = 0 // the bits cleared: +0
//		} else {
//			kept++
//		}
//	}
func KeepBelow(x []float32, draws []uint32, bound uint32) int {
	mustSameLen("KeepBelow", len(x), len(draws))
	return keepBelow(x, draws, bound)
}

// DivScalar divides dst by d in place (a correctly rounded division, not a
// multiplication by 1/d):
//
//	for i := range dst {
//		dst[i] /= d
//	}
func DivScalar(dst []float32, d float32) {
	divScalar(dst, d)
}

// Fused kernels. Each does in one pass what a chain of the kernels above and
// Round does in several, with identical results, bit for bit: the float32
// operation first, rounded to float32, then the rounding to the working
// dtype (see Round). For work F32 and F64 the rounding is a no-op and each
// is the plain kernel; for the integer types and Bool it is the plain
// kernel followed by Round.

// SubRound stores a - b rounded to work in dst; dst may be a or b. It is
//
//	Sub(dst, a, b)
//	Round(work, dst)
//
// in one pass.
func SubRound(work DType, dst, a, b []float32) {
	mustSameLen("SubRound", len(dst), len(a))
	mustSameLen("SubRound", len(dst), len(b))
	switch work {
	case BF16:
		subRoundBF16(dst, a, b)
	case F16:
		subRoundF16(dst, a, b)
	default:
		sub(dst, a, b)
		Round(work, dst)
	}
}

// DivMulRound stores in dst the products of a and b divided by da and db,
// every operation rounded to work:
//
//	dst[i] = round(round(a[i]/da) · round(b[i]/db))
//
// in one pass (the terms of the dot product of two normalized vectors).
// dst may be a or b.
func DivMulRound(work DType, dst, a, b []float32, da, db float32) {
	mustSameLen("DivMulRound", len(dst), len(a))
	mustSameLen("DivMulRound", len(dst), len(b))
	switch work {
	case BF16:
		divMulRoundBF16(dst, a, b, da, db)
	case F32, F64:
		for i := range dst {
			dst[i] = float32(a[i]/da) * float32(b[i]/db)
		}
	default:
		for i := range dst {
			dst[i] = RoundScalar(work, RoundScalar(work, a[i]/da)*RoundScalar(work, b[i]/db))
		}
	}
}

// CombineDivRound stores in dst the combination ca·a + cb·b divided by d,
// plus base[i] unless base is nil, every operation rounded to work:
//
//	dst[i] = round(round(round(ca·a[i]) + round(cb·b[i])) / d)
//	dst[i] = round(dst[i] + base[i])
//
// in one pass (spherical interpolation's last step). dst may be a, b or
// base.
func CombineDivRound(work DType, dst, a, b, base []float32, ca, cb, d float32) {
	mustSameLen("CombineDivRound", len(dst), len(a))
	mustSameLen("CombineDivRound", len(dst), len(b))
	if base != nil {
		mustSameLen("CombineDivRound", len(dst), len(base))
	}
	switch work {
	case BF16:
		combineDivRoundBF16(dst, a, b, base, ca, cb, d)
	case F32, F64:
		for i := range dst {
			v := float32(float32(ca*a[i])+float32(cb*b[i])) / d
			if base != nil {
				v += base[i]
			}
			dst[i] = v
		}
	default:
		r := func(v float32) float32 { return RoundScalar(work, v) }
		for i := range dst {
			v := r(r(r(ca*a[i])+r(cb*b[i])) / d)
			if base != nil {
				v = r(v + base[i])
			}
			dst[i] = v
		}
	}
}

// DivMulRoundVec is DivMulRound with a divisor per element:
//
//	dst[i] = round(round(a[i]/da[i]) · round(b[i]/db[i]))
//
// (the terms of the dot products of many normalized vectors at once, one
// element of each). dst may be a or b.
func DivMulRoundVec(work DType, dst, a, b, da, db []float32) {
	for _, x := range [][]float32{a, b, da, db} {
		mustSameLen("DivMulRoundVec", len(dst), len(x))
	}
	switch work {
	case BF16:
		divMulRoundVecBF16(dst, a, b, da, db)
	case F32, F64:
		for i := range dst {
			dst[i] = float32(a[i]/da[i]) * float32(b[i]/db[i])
		}
	default:
		for i := range dst {
			dst[i] = RoundScalar(work, RoundScalar(work, a[i]/da[i])*RoundScalar(work, b[i]/db[i]))
		}
	}
}

// CombineDivRoundVec is CombineDivRound without a base and with
// coefficients per element:
//
//	dst[i] = round(round(round(ca[i]·a[i]) + round(cb[i]·b[i])) / d[i])
//
// dst may be a or b.
func CombineDivRoundVec(work DType, dst, a, b, ca, cb, d []float32) {
	for _, x := range [][]float32{a, b, ca, cb, d} {
		mustSameLen("CombineDivRoundVec", len(dst), len(x))
	}
	switch work {
	case BF16:
		combineDivRoundVecBF16(dst, a, b, ca, cb, d)
	case F32, F64:
		for i := range dst {
			dst[i] = float32(float32(ca[i]*a[i])+float32(cb[i]*b[i])) / d[i]
		}
	default:
		r := func(v float32) float32 { return RoundScalar(work, v) }
		for i := range dst {
			dst[i] = r(r(r(ca[i]*a[i])+r(cb[i]*b[i])) / d[i])
		}
	}
}

// ScaleRound multiplies x by a in place and rounds the products to work:
//
//	Scale(x, a)
//	Round(work, x)
//
// in one pass.
func ScaleRound(work DType, x []float32, a float32) {
	switch work {
	case BF16:
		scaleRoundBF16(x, a)
	case F16:
		scaleRoundF16(x, a)
	default:
		scale(x, a)
		Round(work, x)
	}
}

// AxpyRound adds w times x to acc with the product rounded to work and the
// sum left in float32 (it is not rounded to work):
//
//	for j := range acc {
//		acc[j] += RoundScalar(work, float32(w * x[j]))
//	}
//
// For work F32 and F64 it is Axpy. Like Axpy it never fuses the multiply
// with the add.
func AxpyRound(work DType, acc []float32, w float32, x []float32) {
	mustSameLen("AxpyRound", len(acc), len(x))
	switch work {
	case BF16:
		axpyRoundBF16(acc, w, x)
	case F16:
		axpyRoundF16(acc, w, x)
	case F32, F64:
		axpy(acc, w, x)
	default:
		for j, v := range x[:len(acc)] {
			acc[j] += RoundScalar(work, float32(w*v))
		}
	}
}

// DivScalarRound divides x by d in place and rounds the quotients to work:
//
//	DivScalar(x, d)
//	Round(work, x)
//
// in one pass.
func DivScalarRound(work DType, x []float32, d float32) {
	switch work {
	case BF16:
		divScalarRoundBF16(x, d)
	case F16:
		divScalarRoundF16(x, d)
	default:
		divScalar(x, d)
		Round(work, x)
	}
}

// DivNonZeroRound divides dst by div where div is not zero and then rounds
// every element of dst, divided or not, to work:
//
//	DivNonZero(dst, div)
//	Round(work, dst)
//
// in one pass.
func DivNonZeroRound(work DType, dst, div []float32) {
	mustSameLen("DivNonZeroRound", len(dst), len(div))
	switch work {
	case BF16:
		divNonZeroRoundBF16(dst, div)
	case F16:
		divNonZeroRoundF16(dst, div)
	default:
		divNonZero(dst, div)
		Round(work, dst)
	}
}

// Magnitude kernels for top-k selection. They look at the magnitude bits
// of each element, math.Float32bits(v) &^ (1 << 31): for non-negative
// floats the bit patterns order like the values, so selecting by magnitude
// is selecting integers (NaNs order above +Inf).

// PruneMagnitude zeroes the elements of x whose magnitude bits are below
// thr, keeps those above it, and of those equal to it keeps the first ties
// in index order; it returns the ties not used up:
//
//	for j, v := range x {
//		u := math.Float32bits(v) &^ (1 << 31)
//		switch {
//		case u > thr:
//		case u == thr && ties > 0:
//			ties--
//		default:
//			x[j] = 0 // the bits cleared: +0
//		}
//	}
//	return ties
//
// Calling it on consecutive pieces of a buffer, passing each call's result
// to the next, prunes as one call on the whole buffer does.
func PruneMagnitude(x []float32, thr uint32, ties int) int {
	return pruneMagnitude(x, thr, ties)
}

// CountMagnitude returns the number of elements of x whose magnitude bits
// equal thr.
func CountMagnitude(x []float32, thr uint32) int {
	return countMagnitude(x, thr)
}

// MagnitudeHistogram counts the elements of x by the magnitude bits
// shifted right by shift:
//
//	for _, v := range x {
//		hist[(math.Float32bits(v)&^(1<<31))>>shift]++
//	}
//
// hist must hold at least 1<<(31-shift) counters (1 for shift ≥ 31); a
// shorter one is a programming error and panics.
func MagnitudeHistogram(hist []uint32, x []float32, shift uint) {
	need := 1
	if shift < 31 {
		need = 1 << (31 - shift)
	}
	if len(hist) < need {
		panic("tensor: MagnitudeHistogram: hist holds fewer than 1<<(31-shift) counters")
	}
	magnitudeHistogram(hist[:need], x, shift)
}

// CountAboveWindow is the counting pass of exact top-k selection once a
// sample has narrowed the threshold to a window [lo, hi] of magnitude
// bits: it returns how many elements of x have magnitude bits above hi, and
// counts those inside the window into hist, adding to what is there:
//
//	for _, v := range x {
//		u := math.Float32bits(v) &^ (1 << 31)
//		switch {
//		case u > hi:
//			n++
//		case u >= lo:
//			hist[u-lo]++
//		}
//	}
//	return n
//
// lo must not exceed hi and hist must hold more than hi-lo counters;
// anything else is a programming error and panics. Only the few elements in
// the window touch hist, so a narrow window costs about as much as
// CountMagnitude, far less than a MagnitudeHistogram pass.
func CountAboveWindow(hist []uint32, x []float32, lo, hi uint32) int {
	if lo > hi {
		panic("tensor: CountAboveWindow: lo above hi")
	}
	if uint64(len(hist)) <= uint64(hi-lo) {
		panic("tensor: CountAboveWindow: hist holds no more than hi-lo counters")
	}
	return countAboveWindow(hist, x, lo, hi)
}

// SplitMix64 fills dst with the SplitMix64 stream of key after ctr draws
// (Steele, Lea and Flood, OOPSLA 2014; Vigna's splitmix64.c started from
// state key after ctr calls):
//
//	for i := range dst {
//		z := key + (ctr+1+uint64(i))*0x9e3779b97f4a7c15
//		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
//		z = (z ^ z>>27) * 0x94d049bb133111eb
//		dst[i] = z ^ z>>31
//	}
//
// All arithmetic is modulo 2⁶⁴, so the counter wraps. Draw i depends on
// key and ctr+i alone: filling a buffer in pieces, each piece passing ctr
// plus the draws before it, gives the same stream as one call.
func SplitMix64(dst []uint64, key, ctr uint64) {
	splitMix64(dst, key, ctr)
}

// SubBF16 stores a − b rounded to bfloat16 in dst, where a and b hold
// bfloat16 values (their bits, as stored): the same bits as decoding both
// with Decode and calling SubRound(BF16, dst, a, b), in one pass that never
// writes the decoded inputs. It panics if the lengths differ.
func SubBF16(dst []float32, a, b []uint16) {
	mustSameLen("SubBF16", len(dst), len(a))
	mustSameLen("SubBF16", len(dst), len(b))
	subBF16(dst, a, b)
}
