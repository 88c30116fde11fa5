package tensor

import "math"

// AbsSum is SumAbs taken over consecutive parts of one vector: after Add
// of each part in order, Sum equals SumAbs of their concatenation bit for
// bit (it keeps the partial sums SumAbs keeps, lane by lane). Every part
// but the last must be a multiple of 16 elements long.
type AbsSum struct {
	lanes [16]float64 // the partial sums of the SIMD body, element j in lane j%16
	seq   float64     // the sum in order, without it
	odd   bool        // a part not a multiple of 16 was added
}

// Add adds the magnitudes of x.
func (s *AbsSum) Add(x []float32) {
	if s.odd {
		panic("tensor.AbsSum: a part after one not a multiple of 16 elements")
	}
	if !absSumLanes() {
		for _, v := range x {
			s.seq += math.Abs(float64(v))
		}
		s.odd = len(x)%16 != 0
		return
	}
	n := len(x) &^ 15
	absSumAdd(x[:n], &s.lanes)
	if n == len(x) {
		return
	}
	// SumAbs's tail: groups of four into the first vector's lanes, the
	// last few in order, added after the reduction.
	s.odd = true
	for ; n+4 <= len(x); n += 4 {
		for l := range 4 {
			s.lanes[l] += math.Abs(float64(x[n+l]))
		}
	}
	for _, v := range x[n:] {
		s.seq += math.Abs(float64(v))
	}
}

// Sum returns the sum of the magnitudes added.
func (s *AbsSum) Sum() float64 {
	if !absSumLanes() {
		return s.seq
	}
	// SumAbs's reduction: the four vectors of four lanes pairwise, then
	// the halves, then the two lanes left; then the last few elements.
	var v [4]float64
	for l := range 4 {
		v[l] = (s.lanes[l] + s.lanes[4+l]) + (s.lanes[8+l] + s.lanes[12+l])
	}
	return (v[0] + v[2]) + (v[1] + v[3]) + s.seq
}

func absSumAddGeneric(x []float32, lanes *[16]float64) {
	for g := 0; g+16 <= len(x); g += 16 {
		for l := range 16 {
			lanes[l] += math.Abs(float64(x[g+l]))
		}
	}
}
