package merge

import (
	"fmt"
	"github.com/gomerge/gomerge/tensor"
	"math"
)

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
	hi, above := descend(hist[:], 0, k)
	clear(hist[:])
	for _, v := range x {
		if u := magnitudeBits(v); int(u>>16) == hi {
			hist[u&0xffff]++
		}
	}
	lo, above := descend(hist[:], above, k)
	return uint32(hi)<<16 | uint32(lo), k - above
}

// descend walks a radix histogram from its top digit down, starting with
// above entries already counted above it, to the digit that holds the k-th
// largest entry; it returns that digit and the entries above it.
func descend(hist []int, above, k int) (digit, newAbove int) {
	for b := len(hist) - 1; b >= 0; b-- {
		if above+hist[b] >= k {
			return b, above
		}
		above += hist[b]
	}
	return 0, above // unreachable for 1 ≤ k ≤ the entries counted
}

// keepTopK zeroes every entry of x but the k of largest magnitude; among
// entries equal to the threshold the first ones in index order are kept.
func keepTopK(x []float32, k int) {
	thr, ties := topKThreshold(x, k)
	pruneBelow(x, thr, &ties)
}

// pruneBelow zeroes the entries of x whose magnitude bits are below thr,
// and those equal to it once *ties of them have been kept.
func pruneBelow(x []float32, thr uint32, ties *int) {
	for j, v := range x {
		u := magnitudeBits(v)
		if u == thr {
			if *ties > 0 {
				*ties--
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

// magnitudeK is the number of entries magnitude pruning keeps of input i's
// n-element task vector: ⌊density·n⌋, which must not be 0 (mergekit
// asserts).
func magnitudeK(t *Tensors, i int, n int64) (int, error) {
	density := t.Inputs[i].Params["density"]
	k := int(density * float64(n))
	if k <= 0 {
		return 0, fmt.Errorf("density %g keeps no element of the %d in %s for %s (mergekit fails here too)",
			density, n, t.Name, t.Inputs[i].Model)
	}
	return k, nil
}

// magnitudeState is magnitude pruning streamed over pieces: two Analyze
// passes build each task vector's radix histograms (high 16 bits of |δ|,
// then low 16 bits inside the chosen bucket) and fix its threshold; Merge
// then keeps entries above it, and the first ties at it, piece by piece in
// order — the same elements keepTopK keeps on the whole tensor.
type magnitudeState struct {
	models map[int]*topkStream
	// finished is the last pass whose histograms were turned into bounds.
	finished int
	// lowZero is set when the working dtype is bfloat16: task vectors are
	// then bfloat16 values, whose float32 bits have 16 zero low bits, so
	// the high digit fixes the threshold and the second pass is skipped.
	lowZero bool
}

type topkStream struct {
	k     int
	hist  []int
	hi    int // chosen high digit
	above int // entries above the chosen bucket, then above the threshold
	thr   uint32
	ties  int
}

// canAnalyzeMagnitude streams magnitude pruning unless L1 rescaling is on
// (it needs the kept norm before the first piece is merged).
func canAnalyzeMagnitude(t *Tensors) bool { return t.Global["rescale"] == 0 }

func analyzeMagnitude(t *Tensors) error {
	st, _ := t.State.(*magnitudeState)
	if st == nil {
		st = &magnitudeState{models: map[int]*topkStream{}, finished: -1, lowZero: t.Work == tensor.BF16}
		t.State = st
		for i, in := range t.Inputs {
			if i == t.Base || in.Params["density"] >= 1 {
				continue
			}
			k, err := magnitudeK(t, i, numElements(t.Shape))
			if err != nil {
				return err
			}
			st.models[i] = &topkStream{k: k, hist: make([]int, 1<<16)}
		}
	}
	if t.Offset == 0 && t.Pass == 1 {
		st.finish(0)
	}
	if t.Base < 0 {
		return nil
	}
	base := t.Inputs[t.Base].Data
	for i, m := range st.models {
		d := subRound(t, t.Inputs[i].Data, base)
		if t.Pass == 0 {
			hist := m.hist[:1<<15] // magnitudes' high digits are below 2^15
			for _, v := range d {
				hist[magnitudeBits(v)>>16]++
			}
			continue
		}
		for _, v := range d {
			if u := magnitudeBits(v); int(u>>16) == m.hi {
				m.hist[u&0xffff]++
			}
		}
	}
	if t.Pass == 0 && !st.lowZero {
		t.MorePasses = true
	}
	return nil
}

// finish turns the histograms of a pass into bounds, once.
func (st *magnitudeState) finish(pass int) {
	if st.lowZero && st.finished < 0 {
		pass = 0 // the only pass; it settles the thresholds
	}
	if st.finished >= pass {
		return
	}
	st.finished = pass
	if pass == 0 && st.lowZero {
		st.finished = 1
	}
	for _, m := range st.models {
		digit, above := descend(m.hist, m.above, m.k)
		if pass == 0 && st.lowZero {
			// Every entry of the chosen bucket has low digit 0.
			m.hi, m.thr, m.ties = digit, uint32(digit)<<16, m.k-above
		} else if pass == 0 {
			m.hi = digit
		} else {
			m.thr, m.ties = uint32(m.hi)<<16|uint32(digit), m.k-above
		}
		m.above = above
		clear(m.hist)
	}
}

// apply prunes one piece of task vector i; pieces must come in order.
func (st *magnitudeState) apply(i int, x []float32) {
	st.finish(1)
	m, ok := st.models[i]
	if !ok {
		return
	}
	pruneBelow(x, m.thr, &m.ties)
}
