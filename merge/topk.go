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
	tensor.PruneMagnitude(x, thr, ties)
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

// magnitudeState is magnitude pruning streamed over pieces: Analysis
// passes build each task vector's radix histograms (high 16 bits of |δ|,
// then low 16 bits inside the chosen bucket) and fix its threshold; Merge
// then keeps entries above it, and of those equal to it the first ones in
// index order (the count is handed from piece to piece through InOrder) —
// the same elements keepTopK keeps on the whole tensor.
type magnitudeState struct {
	models map[int]*topkStream
	// lowZero is set when the working dtype is bfloat16: task vectors are
	// then bfloat16 values, whose float32 bits have 16 zero low bits, so
	// the high digit fixes the threshold and the second pass is skipped.
	lowZero bool
}

type topkStream struct {
	k     int
	hists [][]uint32 // one histogram per worker
	hi    int        // chosen high digit
	above int        // entries above the chosen bucket, then above the threshold
	thr   uint32
	ties  int // entries equal to thr still to be kept
}

// canAnalyzeMagnitude streams magnitude pruning unless L1 rescaling is on
// (it needs the kept norm before the first piece is merged).
func canAnalyzeMagnitude(t *Tensors) bool { return t.Global["rescale"] == 0 }

func analyzeMagnitude(t *Tensors) (Analysis, error) {
	st := &magnitudeState{models: map[int]*topkStream{}, lowZero: t.Work == tensor.BF16}
	for i, in := range t.Inputs {
		if i == t.Base || in.Params["density"] >= 1 {
			continue
		}
		k, err := magnitudeK(t, i, numElements(t.Shape))
		if err != nil {
			return nil, err
		}
		m := &topkStream{k: k, hists: make([][]uint32, t.Workers)}
		for w := range m.hists {
			m.hists[w] = make([]uint32, 1<<16)
		}
		st.models[i] = m
	}
	return st, nil
}

func (st *magnitudeState) Piece(t *Tensors) error {
	if t.Base < 0 {
		return nil
	}
	for i, m := range st.models {
		d := t.Inputs[i].Data // a task vector (TaskVectors)
		hist := m.hists[t.Worker]
		if t.Pass == 0 {
			histogramHigh(hist[:1<<15], d) // magnitudes' high digits are below 2^15
			continue
		}
		for _, v := range d {
			if u := magnitudeBits(v); int(u>>16) == m.hi {
				hist[u&0xffff]++
			}
		}
	}
	return nil
}

// histogramHigh counts the high 16 bits of each |x|.
func histogramHigh(hist []uint32, x []float32) { tensor.MagnitudeHistogram(hist, x, 16) }

func (st *magnitudeState) EndPass(pass int) (bool, error) {
	total := make([]int, 1<<16)
	for _, m := range st.models {
		clear(total)
		for _, h := range m.hists {
			for b, c := range h {
				total[b] += int(c)
			}
			clear(h)
		}
		digit, above := descend(total, m.above, m.k)
		switch {
		case pass == 0 && st.lowZero:
			// Every entry of the chosen bucket has low digit 0.
			m.thr, m.ties = uint32(digit)<<16, m.k-above
		case pass == 0:
			m.hi = digit
		default:
			m.thr, m.ties = uint32(m.hi)<<16|uint32(digit), m.k-above
		}
		m.above = above
	}
	return pass == 0 && !st.lowZero, nil
}

// apply prunes one piece of task vector i.
func (st *magnitudeState) apply(t *Tensors, i int, x []float32) error {
	m, ok := st.models[i]
	if !ok {
		return nil
	}
	keep := 0
	err := t.InOrder(func() {
		if m.ties > 0 {
			keep = min(m.ties, tensor.CountMagnitude(x, m.thr))
			m.ties -= keep
		}
	})
	if err != nil {
		return err
	}
	tensor.PruneMagnitude(x, m.thr, keep)
	return nil
}
