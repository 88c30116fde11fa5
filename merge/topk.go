package merge

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
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

// magnitudeState is magnitude pruning streamed over pieces: two Analyze
// passes build each task vector's radix histograms (high 16 bits of |δ|,
// then low 16 bits inside the chosen bucket) and fix its threshold; Merge
// then keeps entries above it, and the first ties at it, piece by piece in
// order — the same elements keepTopK keeps on the whole tensor.
type magnitudeState struct {
	models map[int]*topkStream
	// finished is the last pass whose histograms were turned into bounds.
	finished int
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
		st = &magnitudeState{models: map[int]*topkStream{}, finished: -1}
		t.State = st
		n := numElements(t.Shape)
		for i, in := range t.Inputs {
			density := in.Params["density"]
			if i == t.Base || density >= 1 {
				continue
			}
			k := int(density * float64(n))
			if k <= 0 {
				return fmt.Errorf("density %g keeps no element of the %d in %s for %s (mergekit fails here too)",
					density, n, t.Name, in.Model)
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
		d := t.Scratch(len(base))
		tensor.Sub(d, t.Inputs[i].Data, base)
		t.round(d)
		for _, v := range d {
			u := magnitudeBits(v)
			switch {
			case t.Pass == 0:
				m.hist[u>>16]++
			case int(u>>16) == m.hi:
				m.hist[u&0xffff]++
			}
		}
	}
	if t.Pass == 0 {
		t.MorePasses = true
	}
	return nil
}

// finish turns the histograms of a pass into bounds, once.
func (st *magnitudeState) finish(pass int) {
	if st.finished >= pass {
		return
	}
	st.finished = pass
	for _, m := range st.models {
		above := m.above
		for b := len(m.hist) - 1; b >= 0; b-- {
			if above+m.hist[b] >= m.k {
				if pass == 0 {
					m.hi = b
				} else {
					m.thr, m.ties = uint32(m.hi)<<16|uint32(b), m.k-above
				}
				break
			}
			above += m.hist[b]
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
	for j, v := range x {
		u := magnitudeBits(v)
		if u == m.thr {
			if m.ties > 0 {
				m.ties--
			} else {
				x[j] = 0
			}
			continue
		}
		keep := uint32(int32(m.thr-u) >> 31)
		x[j] = math.Float32frombits(math.Float32bits(v) & keep)
	}
}
