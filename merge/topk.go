package merge

import (
	"fmt"
	"math"
	"sync"

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
func keepTopK(be tensor.Backend, x []float32, k int) error {
	thr, ties := topKThreshold(x, k)
	_, err := be.PruneMagnitude(x, thr, ties)
	return err
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
// passes find each task vector's threshold (the magnitude of its k-th
// largest entry) and how many entries equal to it are kept; Merge then
// keeps entries above it, and of those equal to it the first ones in index
// order (the count is handed from piece to piece through InOrder) — the
// same elements keepTopK keeps on the whole tensor.
//
// The threshold comes from radix histograms: of the high 16 magnitude bits,
// then of the low 16 bits inside the chosen bucket. For bfloat16 work the
// low bits are zero, so one histogram decides, and when the executor hands
// Analyze a sample of the tensor the sample names a window of five
// bfloat16 values that very likely holds the threshold: the first pass then
// only counts the entries above the window and histograms those inside it
// (tensor.CountAboveWindow, a SIMD count), and a full histogram pass
// follows only when the threshold lies outside.
//
// With stored inputs (Tensors.Stored) each piece's task vectors are
// computed block by block from the stored bytes, and the analysis also
// finds how many entries equal to the threshold every piece keeps: the
// window pass keeps each piece's window counts, and after a histogram
// pass one more pass counts each piece's entries equal to the threshold.
// Merge then prunes every piece without waiting for the pieces before it.
type magnitudeState struct {
	models map[int]*topkStream
	// lowZero is set when the working dtype is bfloat16: task vectors are
	// then bfloat16 values, whose float32 bits have 16 zero low bits.
	lowZero bool
	stored  bool
	pieces  int
	blocks  [][]float32 // per worker, with stored inputs
}

// The passes a topkStream goes through.
const (
	topkWindow = iota // count above a window, histogram inside it
	topkHigh          // histogram of the high 16 bits
	topkLow           // histogram of the low 16 bits in the chosen bucket
	topkCount         // stored inputs: count each piece's entries equal to thr
	topkDone
)

type topkStream struct {
	k      int
	mode   int
	hists  [][]uint32 // one histogram per worker
	aboves []int      // per worker, in topkWindow
	lo, hi uint32     // the window's magnitude bits, in topkWindow
	digit  int        // chosen high digit, in topkLow
	above  int        // entries above the chosen bucket, then above the threshold
	thr    uint32
	ties   int // entries equal to thr still to be kept

	// With stored inputs, per piece: the window's counts (windowLen()
	// each) in topkWindow, the entries equal to thr in topkCount, and
	// once done the entries equal to thr that the piece keeps.
	pieceWin []uint32
	pieceEq  []int
	keep     []int
	keepsAll []bool // per piece: keep is all its entries equal to thr
}

// windowLen is the number of bfloat16 values in the window.
func (m *topkStream) windowLen() int { return int(m.hi-m.lo)>>16 + 1 }

// windowSteps is how many bfloat16 values on each side of the sample's
// estimate the window holds.
const windowSteps = 2

// canAnalyzeMagnitude streams magnitude pruning unless L1 rescaling is on
// (it needs the kept norm before the first piece is merged).
func canAnalyzeMagnitude(t *Tensors) bool { return t.Global["rescale"] == 0 }

func analyzeMagnitude(t *Tensors) (Analysis, error) {
	st := &magnitudeState{models: map[int]*topkStream{}, lowZero: t.Work == tensor.BF16, stored: t.Stored, pieces: t.Pieces}
	if st.stored {
		st.blocks = make([][]float32, t.Workers)
	}
	n := numElements(t.Shape)
	for i, in := range t.Inputs {
		if i == t.Base || in.Params["density"] >= 1 {
			continue
		}
		k, err := magnitudeK(t, i, n)
		if err != nil {
			return nil, err
		}
		m := &topkStream{k: k, mode: topkHigh, hists: make([][]uint32, t.Workers), aboves: make([]int, t.Workers)}
		if st.lowZero && t.Sample > 0 && len(in.Data) > 0 {
			m.mode = topkWindow
			m.lo, m.hi = chooseWindow(in.Data, k, n)
		}
		for w := range m.hists {
			if m.mode == topkWindow {
				m.hists[w] = windowHists.Get().([]uint32)
			} else {
				m.hists[w] = make([]uint32, 1<<16)
			}
		}
		if st.stored && m.mode == topkWindow {
			m.pieceWin = make([]uint32, t.Pieces*m.windowLen())
		}
		st.models[i] = m
	}
	return st, nil
}

// windowHists holds zeroed histograms for CountAboveWindow over the
// widest window: 1 MiB each, too much to allocate and clear for every
// tensor, model and worker when at most windowLen of its counters are
// used. They go back cleared.
var windowHists = sync.Pool{New: func() any { return make([]uint32, 2*windowSteps<<16+1) }}

// chooseWindow is sampleWindow; tests replace it to force misses.
var chooseWindow = sampleWindow

// sampleWindow returns the magnitude bits of the bfloat16 values
// windowSteps below and above the sample's estimate of the k-th largest of
// n magnitudes.
func sampleWindow(sample []float32, k int, n int64) (lo, hi uint32) {
	var hist [1 << 15]int
	for _, v := range sample {
		hist[magnitudeBits(v)>>16]++
	}
	ks := max(1, min(len(sample), int(float64(k)*float64(len(sample))/float64(n)+0.5)))
	digit, _ := descend(hist[:], 0, ks)
	return uint32(max(digit-windowSteps, 0)) << 16, uint32(min(digit+windowSteps, 1<<15-1)) << 16
}

func (st *magnitudeState) Piece(t *Tensors) error {
	if t.Base < 0 {
		return nil
	}
	if st.stored {
		st.storedPiece(t)
		return nil
	}
	for i, m := range st.models {
		if m.mode == topkDone {
			continue // found in its window while another input's was not: no histograms
		}
		d := t.Inputs[i].Data // a task vector (TaskVectors)
		hist := m.hists[t.Worker]
		switch m.mode {
		case topkWindow:
			m.aboves[t.Worker] += tensor.CountAboveWindow(hist, d, m.lo, m.hi)
		case topkHigh:
			tensor.MagnitudeHistogram(hist[:1<<15], d, 16) // magnitudes' high digits are below 2^15
		case topkLow:
			for _, v := range d {
				if u := magnitudeBits(v); int(u>>16) == m.digit {
					hist[u&0xffff]++
				}
			}
		}
	}
	return nil
}

// storedPiece is Piece on stored inputs: the task vectors are computed
// block by block into a buffer that stays in the L1 cache.
func (st *magnitudeState) storedPiece(t *Tensors) {
	base := t.Inputs[t.Base].BF16
	n := len(base) / 2
	buf := st.blocks[t.Worker]
	if buf == nil {
		buf = make([]float32, consensusBlock)
		st.blocks[t.Worker] = buf
	}
	for i, m := range st.models {
		if m.mode == topkDone {
			continue // found in its window while another input's was not: no histograms
		}
		x, hist := t.Inputs[i].BF16, m.hists[t.Worker]
		if m.mode == topkWindow {
			// One fused pass from the stored bytes, counting straight
			// into the piece's window counts.
			win := m.pieceWin[t.Piece*m.windowLen() : (t.Piece+1)*m.windowLen()]
			m.aboves[t.Worker] += tensor.SubCountAboveWindowBF16(win, x, base, m.lo, m.hi)
			continue
		}
		eq := 0
		for lo := 0; lo < n; lo += consensusBlock {
			end := min(n, lo+consensusBlock)
			d := buf[:end-lo]
			tensor.SubBF16Bytes(d, x[2*lo:2*end], base[2*lo:2*end])
			switch m.mode {
			case topkHigh:
				tensor.MagnitudeHistogram(hist[:1<<15], d, 16)
			case topkCount:
				eq += tensor.CountMagnitude(d, m.thr)
			}
		}
		if m.mode == topkCount {
			m.pieceEq[t.Piece] = eq
		}
	}
}

// windowCounts sums the counts of the window's bfloat16 values, from the
// pieces with stored inputs, else from the workers' histograms (clearing
// them).
func (m *topkStream) windowCounts() []int {
	wl := m.windowLen()
	window := make([]int, wl)
	if m.pieceWin != nil {
		for p := 0; p < len(m.pieceWin); p += wl {
			for s, c := range m.pieceWin[p : p+wl] {
				window[s] += int(c)
			}
		}
		return window
	}
	for _, h := range m.hists {
		for s := range window {
			window[s] += int(h[s<<16])
			h[s<<16] = 0
		}
	}
	return window
}

// keepTies hands out the m.ties entries equal to thr that are kept to
// the pieces in index order, from each piece's count eq(p) of them.
func (m *topkStream) keepTies(pieces int, eq func(p int) int) {
	m.keep, m.keepsAll = make([]int, pieces), make([]bool, pieces)
	left := m.ties
	for p := range m.keep {
		e := eq(p)
		m.keep[p] = min(left, e)
		m.keepsAll[p] = m.keep[p] == e
		left -= m.keep[p]
	}
}

func (st *magnitudeState) EndPass(int) (more bool, err error) {
	for _, m := range st.models {
		switch m.mode {
		case topkWindow:
			above := 0
			for w, a := range m.aboves {
				above += a
				m.aboves[w] = 0
			}
			window := m.windowCounts()
			for _, h := range m.hists {
				windowHists.Put(h) // cleared by windowCounts or storedPiece
			}
			m.hists = nil
			if above < m.k {
				// Walk the window from its top value down.
				for s := len(window) - 1; s >= 0; s-- {
					c := window[s]
					if above+c >= m.k {
						m.thr, m.ties, m.mode = m.lo+uint32(s)<<16, m.k-above, topkDone
						break
					}
					above += c
				}
			}
			if m.mode == topkDone && m.pieceWin != nil {
				wl, s := m.windowLen(), int(m.thr-m.lo)>>16
				m.keepTies(len(m.pieceWin)/wl, func(p int) int { return int(m.pieceWin[p*wl+s]) })
			}
			m.pieceWin = nil
			if m.mode != topkDone {
				// The threshold is outside the window: histogram everything.
				m.mode = topkHigh
				m.hists = make([][]uint32, len(m.aboves))
				for w := range m.hists {
					m.hists[w] = make([]uint32, 1<<16)
				}
			}
		case topkHigh, topkLow:
			total := make([]int, 1<<16)
			sumHists(total, m.hists)
			digit, above := descend(total, m.above, m.k)
			switch {
			case m.mode == topkHigh && st.lowZero && st.stored:
				// As below, and then each piece's share of the ties.
				m.thr, m.ties, m.mode = uint32(digit)<<16, m.k-above, topkCount
				m.pieceEq = make([]int, st.pieces)
			case m.mode == topkHigh && st.lowZero:
				// Every entry of the chosen bucket has low digit 0.
				m.thr, m.ties, m.mode = uint32(digit)<<16, m.k-above, topkDone
			case m.mode == topkHigh:
				m.digit, m.mode = digit, topkLow
			default:
				m.thr, m.ties, m.mode = uint32(m.digit)<<16|uint32(digit), m.k-above, topkDone
			}
			m.above = above
		case topkCount:
			m.keepTies(st.pieces, func(p int) int { return m.pieceEq[p] })
			m.pieceEq, m.mode = nil, topkDone
		}
		more = more || m.mode != topkDone
	}
	return more, nil
}

// sumHists adds the workers' histograms into total and clears them.
func sumHists(total []int, hists [][]uint32) {
	for _, h := range hists {
		for b, c := range h {
			total[b] += int(c)
		}
		clear(h)
	}
}

// pruner returns the pruning of input i's task vector on the current
// piece with stored inputs, to be called on its blocks in index order; nil
// when the input is not pruned.
func (st *magnitudeState) pruner(t *Tensors, i int) (func(d []float32), error) {
	m, ok := st.models[i]
	if !ok {
		return nil, nil
	}
	thr, keep := m.thr, m.keep[t.Piece]
	return func(d []float32) { keep = tensor.PruneMagnitude(d, thr, keep) }, nil
}

// keepMin returns, when the pruning of input i's task vector on the
// current piece with stored inputs keeps exactly the entries whose
// magnitude bits are at least min (all or none of those equal to the
// threshold), that min, for tensor.SubPruneScaleBF16; ok is false when
// the piece keeps some but not all of them. Inputs that are not pruned
// keep everything: min 0.
func (st *magnitudeState) keepMin(t *Tensors, i int) (min uint32, ok bool) {
	m, pruned := st.models[i]
	switch {
	case !pruned:
		return 0, true
	case m.keep[t.Piece] == 0:
		return m.thr + 1, true
	case m.keepsAll[t.Piece]:
		return m.thr, true
	}
	return 0, false
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
	if _, err := t.be().PruneMagnitude(x, m.thr, keep); err != nil {
		return fmt.Errorf("magnitude pruning of %s for %s: %w", t.Inputs[i].Model, t.Name, err)
	}
	return nil
}
