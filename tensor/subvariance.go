package tensor

import (
	"encoding/binary"
	"math"
)

// SubVarianceBF16 is the first steps of SCE's selection on bfloat16
// tensors as stored (little-endian bytes, two per element), in one pass
// that keeps each group of positions in registers: it writes the task
// vectors tvs[i] = round(xs[i] − base), the variances across them into v,
// and lowers mins[i] to the unsigned minimum over the positions of the
// magnitude bits of tvs[i] minus one (wrapping, so that ±0 counts as the
// largest: MinMagnitude(tvs[i]) is that minimum plus one); it returns
// how many variances are non-zero. It gives the results of the calls it
// replaces:
//
//	SubBF16Bytes(tvs[i], xs[i], base)  // for every i
//	nonzero := Variance(BF16, v, tvs)
//	mins[i] = min(mins[i], MinMagnitude(tvs[i])-1)
//
// A NaN variance may carry another payload. It panics if base or an
// input does not hold 2·len(v) bytes, a task vector is shorter than v,
// there are no inputs, or tvs or mins is not as long as xs.
func SubVarianceBF16(v []float32, tvs [][]float32, xs [][]byte, base []byte, mins []uint32) (nonzero int) {
	n := len(v)
	if len(xs) == 0 {
		panic("tensor: SubVarianceBF16 without inputs")
	}
	mustSameLen("SubVarianceBF16", 2*n, len(base))
	mustSameLen("SubVarianceBF16", len(xs), len(tvs))
	mustSameLen("SubVarianceBF16", len(xs), len(mins))
	for i, x := range xs {
		mustSameLen("SubVarianceBF16", 2*n, len(x))
		_ = tvs[i][:n]
	}
	m, nz := subVariance(v, tvs, xs, base, mins)
	return nz + subVarianceBF16Generic(v, tvs, xs, base, mins, m)
}

// subVarianceBF16Generic is SubVarianceBF16 element by element, from
// element from on, in Variance's operations and order.
func subVarianceBF16Generic(v []float32, tvs [][]float32, xs [][]byte, base []byte, mins []uint32, from int) (nonzero int) {
	bf16 := func(raw []byte, j int) float32 {
		return math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*j:])) << 16)
	}
	m := float64(len(xs))
	for j := from; j < len(v); j++ {
		b := bf16(base, j)
		var mean float64
		for i, x := range xs {
			t := RoundBF16(bf16(x, j) - b)
			tvs[i][j] = t
			mins[i] = min(mins[i], math.Float32bits(t)&^(1<<31)-1)
			mean += float64(t)
		}
		mean /= m
		var ss float64
		for i := range xs {
			d := float64(tvs[i][j]) - mean
			ss += float64(d * d)
		}
		v[j] = RoundBF16(float32(ss / m))
		if v[j] != 0 {
			nonzero++
		}
	}
	return nonzero
}
