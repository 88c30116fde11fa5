package merge

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/gomerge/gomerge/tensor"
)

// sparsifyMagnitude keeps the k = ⌊density·n⌋ entries of largest magnitude
// over the whole tensor (mergekit's "magnitude" sparsifier) and zeroes the
// rest, restoring the tensor's L1 norm when rescale is set. Entries equal
// to the threshold are kept in index order. density ≥ 1 keeps everything;
// k = 0 is an error, as mergekit asserts.
func sparsifyMagnitude(t *Tensors, i int, delta []float32) error {
	density := t.Inputs[i].Params["density"]
	if density >= 1 {
		return nil
	}
	if st, ok := t.State.(*magnitudeState); ok {
		return st.apply(t, i, delta)
	}
	k, err := magnitudeK(t, i, int64(len(delta)))
	if err != nil {
		return err
	}
	var orig float64
	if t.Global["rescale"] != 0 {
		orig = tensor.SumAbs(delta)
	}
	if err := keepTopK(t.be(), delta, k); err != nil {
		return fmt.Errorf("magnitude pruning of %s for %s: %w", t.Inputs[i].Model, t.Name, err)
	}
	if t.Global["rescale"] != 0 {
		rescaleL1(t.Work, delta, orig)
	}
	return nil
}

// rescaleL1 scales the pruned tensor m so that its L1 norm equals orig,
// the norm before pruning, unless either norm is below 1e-7 (mergekit's
// rescaled_masked_tensor with the L1 norm).
func rescaleL1(work tensor.DType, m []float32, orig float64) {
	if f := rescaleFactor(work, orig, tensor.SumAbs(m)); f != 0 {
		tensor.ScaleRound(work, m, f)
	}
}

// rescaleFactor is orig/kept with both norms and the quotient rounded to
// the working dtype, or 0 (no rescale) when either norm is below 1e-7.
func rescaleFactor(work tensor.DType, orig, kept float64) float32 {
	kept = float64(tensor.RoundScalar(work, float32(kept)))
	orig = float64(tensor.RoundScalar(work, float32(orig)))
	if orig < 1e-7 || kept < 1e-7 {
		return 0
	}
	return tensor.RoundScalar(work, float32(orig/kept))
}

// kthLargest returns the k-th largest value (1-based) of x, reordering x.
// It is Hoare's quickselect with a median-of-three pivot: O(n) expected,
// no full sort.
func kthLargest(x []float32, k int) float32 {
	lo, hi := 0, len(x)-1
	target := k - 1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three, ordered descending
		if x[mid] > x[lo] {
			x[mid], x[lo] = x[lo], x[mid]
		}
		if x[hi] > x[lo] {
			x[hi], x[lo] = x[lo], x[hi]
		}
		if x[hi] > x[mid] {
			x[hi], x[mid] = x[mid], x[hi]
		}
		p := x[mid]
		i, j := lo, hi
		for i <= j {
			for x[i] > p {
				i++
			}
			for x[j] < p {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		switch {
		case target <= j:
			hi = j
		case target >= i:
			lo = i
		default:
			return x[target]
		}
	}
	return x[target]
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// randomWorkDType is the dtype mergekit's random sparsifiers compute in:
// the tensor's own for bfloat16, else float32 (torch.bernoulli has no
// float16 CPU kernel, so float16 tensors are upcast and cast back).
func randomWorkDType(work tensor.DType) tensor.DType {
	if work == tensor.BF16 {
		return tensor.BF16
	}
	return tensor.F32
}

// sparsifyRandom is mergekit's "random" sparsifier, the drop step of DARE
// (Yu et al., "Language Models are Super Mario", arXiv:2311.03099): every
// element is kept independently with probability density (held in the
// dtype of randomWorkDType) and, when rescale is set, the tensor's L1 norm
// is restored — not the paper's per-element 1/density factor. The mask is
// drawn from the model's randomSource. density ≥ 1 keeps everything.
func sparsifyRandom(t *Tensors, i int, delta []float32) error {
	density := t.Inputs[i].Params["density"]
	if density >= 1 {
		return nil
	}
	if !(density >= 0) {
		return fmt.Errorf("density %g of %s for %s is not a probability", density, t.Inputs[i].Model, t.Name)
	}
	if st, ok := t.State.(*randomState); ok {
		return st.apply(t, i, delta)
	}
	work := randomWorkDType(t.Work)
	rescale := t.Global["rescale"] != 0
	var orig float64
	if rescale {
		orig = tensor.SumAbs(delta)
	}
	src := newRandomSource(t.Seed, t.Inputs[i].Model)
	if _, err := src.bernoulliOn(t.be(), delta, randomThreshold(randomProbability(t.Work, density))); err != nil {
		return fmt.Errorf("DARE mask of %s for %s: %w", t.Inputs[i].Model, t.Name, err)
	}
	if rescale {
		rescaleL1(work, delta, orig)
		tensor.Round(t.Work, delta)
	}
	return nil
}

// sparsifyMagnitudeOutliers is mergekit's "magnitude_outliers" sparsifier
// (Model Breadcrumbs, Davari & Belilovsky, arXiv:2312.06795): with
// n_keep = ⌊density·n⌋, n_top = ⌊gamma·n⌋ and n_bot = n − n_keep − n_top
// (n_top shrinks when n_bot would be negative), the n_bot smallest and the
// n_top largest magnitudes are dropped. Equal magnitudes rank in index
// order. As in mergekit the kept ranks are the Python slice
// [n_bot : −n_top], which is empty when n_top = 0: a gamma·n below 1 (for
// example gamma 0.01 on a 64-element norm) drops the whole task vector.
func sparsifyMagnitudeOutliers(t *Tensors, i int, delta []float32) error {
	p := t.Inputs[i].Params
	density, gamma := p["density"], p["gamma"]
	if density >= 1 {
		return nil
	}
	if st, ok := t.State.(*outliersState); ok {
		return st.apply(t, i, delta)
	}
	lo, hi := outliersRanks(len(delta), density, gamma)
	var orig float64
	rescale := t.Global["rescale"] != 0
	if rescale {
		orig = tensor.SumAbs(delta)
	}
	magnitudeOutliersKeep(delta, lo, hi, t.Work == tensor.BF16)
	if rescale {
		rescaleL1(t.Work, delta, orig)
	}
	return nil
}

// outliersRanks returns the half-open range of ascending-magnitude ranks
// magnitude_outliers keeps of n entries.
func outliersRanks(n int, density, gamma float64) (lo, hi int) {
	nKeep := int(density * float64(n))
	nTop := int(gamma * float64(n))
	nBot := n - nKeep - nTop
	if nBot < 0 {
		nTop += nBot
		nBot = 0
	}
	return magnitudeOutliersSlice(n, nBot, -nTop)
}

// outliersState is magnitude_outliers streamed over pieces, as
// magnitudeState is for top-k: Analysis passes find, for each of the two
// boundary ranks lo and hi−1, the magnitude there and how many entries lie
// below it; Merge keeps the entries strictly between the two magnitudes
// and ranks the entries equal to one of them in index order.
//
// The magnitudes come from radix histograms: of the high 16 magnitude
// bits, then of the low 16 bits inside the two chosen buckets. For
// bfloat16 work the low bits are zero, so one histogram decides, and when
// the executor hands Analyze a sample of the tensor the sample names a
// window of bfloat16 values around each boundary: the first pass then
// only counts the entries above each window and histograms those inside it
// (tensor.CountAboveWindowShift), and a full histogram pass follows only
// when a boundary lies outside its window.
//
// With stored inputs (Tensors.Stored) each piece's task vectors are
// computed block by block from the stored bytes, and the analysis also
// finds how many entries equal to each boundary every piece holds: the
// window pass keeps each piece's window counts, and after a histogram pass
// one more pass counts them. Merge then ranks each piece's boundary
// entries from there without waiting for the pieces before it; without
// stored inputs the ranks go from piece to piece through InOrder.
type outliersState struct {
	models  map[int]*outliersStream
	lowZero bool // bfloat16 work: the task vectors' low 16 bits are zero
	stored  bool
	pieces  int
	n       int         // entries of the tensor
	blocks  [][]float32 // per worker, with stored inputs
}

// The passes an outliersStream goes through.
const (
	outliersWindow = iota // count above the two windows, histogram inside them
	outliersHigh          // histogram of the high 16 bits
	outliersLow           // histograms of the low 16 bits in the two chosen buckets
	outliersCount         // stored inputs: count each piece's entries equal to vLo, vHi
	outliersDone
)

type outliersStream struct {
	lo, hi    int  // kept ranks [lo, hi)
	all, none bool // keep everything / nothing
	mode      int
	win       [2]*rankWindow // in outliersWindow: around the ranks lo and hi−1
	hists     [][]uint32     // per worker, in outliersHigh and outliersLow
	d1, d2    int            // high digits of the boundaries, in outliersLow
	b1, b2    int            // entries below the boundaries' buckets, then below the boundaries
	vLo, vHi  uint32
	seenLo    int // ranks of the next entries equal to vLo, vHi (in order), without stored inputs
	seenHi    int
	// With stored inputs, per piece: the entries equal to vLo and vHi
	// (outliersCount), then the ranks of the piece's first such entries.
	rankLo, rankHi []int
}

// rankWindow is a window [lo, hi] of bfloat16 magnitudes that a sample
// says very likely holds the entry of ascending rank q. Its counters are
// one per bfloat16 value (tensor.CountAboveWindowShift).
type rankWindow struct {
	q        int
	lo, hi   uint32
	hists    [][]uint32 // per worker
	aboves   []int      // per worker: entries above hi
	pieceWin []uint32   // with stored inputs: each piece's window counts
}

// chooseRankWindows is sampleRankWindows; tests replace it to force
// misses.
var chooseRankWindows = sampleRankWindows

// rankWindowMax is the most bfloat16 values a rankWindow spans.
const rankWindowMax = 64

// sampleRankWindows returns the magnitude bits of the bfloat16 values that
// bound the windows for the entries of ascending ranks q[0] and q[1] of n
// magnitudes: for each, the sample's entries of ranks q·len(sample)/n ± 8
// standard deviations of a sample quantile there, one value wider on
// either side. Task vectors of bfloat16 weights crowd on a few values
// (differences of neighbouring bfloat16 numbers), so a window of a fixed
// number of values around the estimate misses often; a margin in ranks
// does not. The sample is runs of consecutive entries, whose quantiles
// vary more than those of as many independent draws: hence 8 deviations.
func sampleRankWindows(sample []float32, q [2]int, n int64) (lo, hi [2]uint32) {
	var hist [1 << 15]uint32
	tensor.MagnitudeHistogram(hist[:], sample, 16)
	s := float64(len(sample))
	// at returns the high digit of the sample's entry of rank r.
	at := func(r float64) int {
		r = min(max(r, 0), s-1)
		below := 0
		for d, c := range hist {
			if below += int(c); float64(below) > r {
				return d
			}
		}
		return len(hist) - 1
	}
	for i, q := range q {
		qs := float64(q) * s / float64(n)
		p := min(max(qs/s, 0), 1)
		margin := 8*math.Sqrt(p*(1-p)*s) + 1
		mid, dLo, dHi := at(qs), max(at(qs-margin)-1, 0), min(at(qs+margin)+1, 1<<15-1)
		if dHi-dLo >= rankWindowMax { // too wide: centre it on the estimate
			dLo = max(0, min(mid-rankWindowMax/2, 1<<15-rankWindowMax))
			dHi = dLo + rankWindowMax - 1
		}
		lo[i], hi[i] = uint32(dLo)<<16, uint32(dHi)<<16
	}
	return lo, hi
}

func newRankWindow(t *Tensors, q int, lo, hi uint32) *rankWindow {
	w := &rankWindow{q: q, lo: lo, hi: hi, aboves: make([]int, t.Workers)}
	w.hists = newHists(t.Workers, w.windowLen())
	if t.Stored {
		w.pieceWin = make([]uint32, t.Pieces*w.windowLen())
	}
	return w
}

// windowLen is the number of bfloat16 values in the window.
func (w *rankWindow) windowLen() int { return int(w.hi-w.lo)>>16 + 1 }

// count adds the entries of d to worker's counts.
func (w *rankWindow) count(worker int, d []float32) {
	w.aboves[worker] += tensor.CountAboveWindowShift(w.hists[worker], d, w.lo, w.hi, 16)
}

// endPiece moves the window counts of piece p out of worker's histogram.
func (w *rankWindow) endPiece(worker, p int) {
	wl, h := w.windowLen(), w.hists[worker]
	copy(w.pieceWin[p*wl:(p+1)*wl], h)
	clear(h)
}

// resolve returns the magnitude bits v of the entry of rank q among n, how
// many entries lie below v and v's slot in the window; ok is false when v
// lies outside the window.
func (w *rankWindow) resolve(n int) (v uint32, below, slot int, ok bool) {
	above := 0
	for _, a := range w.aboves {
		above += a
	}
	window := make([]int, w.windowLen())
	for p := 0; p < len(w.pieceWin); p += len(window) {
		for s, c := range w.pieceWin[p : p+len(window)] {
			window[s] += int(c)
		}
	}
	for _, h := range w.hists { // without stored inputs
		for s, c := range h {
			window[s] += int(c)
		}
	}
	k := n - w.q // v is the k-th largest
	for s := len(window) - 1; s >= 0 && above < k; s-- {
		c := window[s]
		if above+c >= k {
			return w.lo + uint32(s)<<16, n - above - c, s, true
		}
		above += c
	}
	return 0, 0, 0, false
}

// pieceCount returns how many entries of piece p the window's slot holds.
func (w *rankWindow) pieceCount(p, slot int) int { return int(w.pieceWin[p*w.windowLen()+slot]) }

// canAnalyzeOutliers streams magnitude_outliers unless L1 rescaling is on.
func canAnalyzeOutliers(t *Tensors) bool { return t.Global["rescale"] == 0 }

func analyzeOutliers(t *Tensors) (Analysis, error) {
	st := &outliersState{models: map[int]*outliersStream{}, lowZero: t.Work == tensor.BF16, stored: t.Stored, pieces: t.Pieces,
		n: int(numElements(t.Shape))}
	if st.stored {
		st.blocks = make([][]float32, t.Workers)
	}
	n := numElements(t.Shape)
	for i, in := range t.Inputs {
		if i == t.Base || in.Params["density"] >= 1 {
			continue
		}
		lo, hi := outliersRanks(int(n), in.Params["density"], in.Params["gamma"])
		m := &outliersStream{lo: lo, hi: hi, all: lo == 0 && hi == int(n), none: lo >= hi}
		switch {
		case m.all || m.none:
			m.mode = outliersDone
		case st.lowZero && t.Sample > 0 && len(in.Data) > 0:
			m.mode = outliersWindow
			wLo, wHi := chooseRankWindows(in.Data, [2]int{lo, hi - 1}, n)
			m.win = [2]*rankWindow{newRankWindow(t, lo, wLo[0], wHi[0]), newRankWindow(t, hi-1, wLo[1], wHi[1])}
		default:
			m.mode = outliersHigh
			m.hists = newHists(t.Workers, 1<<15) // magnitudes' high digits are below 2^15
		}
		st.models[i] = m
	}
	return st, nil
}

// newHists returns zeroed histograms of size counters, one per worker.
func newHists(workers, size int) [][]uint32 {
	h := make([][]uint32, workers)
	for w := range h {
		h[w] = make([]uint32, size)
	}
	return h
}

func (st *outliersState) Piece(t *Tensors) error {
	if st.stored {
		st.storedPiece(t)
		return nil
	}
	for i, m := range st.models {
		m.examine(t.Worker, t.Inputs[i].Data) // a task vector (TaskVectors)
	}
	return nil
}

// storedPiece is Piece on stored inputs: the window pass counts the task
// vectors from the stored bytes (tensor.SubCountWindowsBF16); the other
// passes compute them block by block into a buffer that stays in the L1
// cache.
func (st *outliersState) storedPiece(t *Tensors) {
	base := t.Inputs[t.Base].BF16
	n := len(base) / 2
	buf := st.blocks[t.Worker]
	if buf == nil {
		buf = make([]float32, consensusBlock)
		st.blocks[t.Worker] = buf
	}
	for i, m := range st.models {
		if m.mode == outliersDone {
			continue
		}
		x := t.Inputs[i].BF16
		if m.mode == outliersWindow {
			// Both windows in one pass over the stored bytes.
			w0, w1 := m.win[0], m.win[1]
			a0, a1 := tensor.SubCountWindowsBF16(w0.hists[t.Worker], w1.hists[t.Worker], x, base, w0.lo, w0.hi, w1.lo, w1.hi)
			w0.aboves[t.Worker] += a0
			w1.aboves[t.Worker] += a1
			w0.endPiece(t.Worker, t.Piece)
			w1.endPiece(t.Worker, t.Piece)
			continue
		}
		eqLo, eqHi := 0, 0
		for lo := 0; lo < n; lo += consensusBlock {
			end := min(n, lo+consensusBlock)
			d := buf[:end-lo]
			tensor.SubBF16Bytes(d, x[2*lo:2*end], base[2*lo:2*end])
			l, h := m.examine(t.Worker, d)
			eqLo += l
			eqHi += h
		}
		if m.mode == outliersCount {
			m.rankLo[t.Piece], m.rankHi[t.Piece] = eqLo, eqHi
		}
	}
}

// examine adds task vector values d to the current pass on worker w; in
// outliersCount it returns how many equal vLo and vHi.
func (m *outliersStream) examine(w int, d []float32) (eqLo, eqHi int) {
	switch m.mode {
	case outliersWindow:
		m.win[0].count(w, d)
		m.win[1].count(w, d)
	case outliersHigh:
		tensor.MagnitudeHistogram(m.hists[w], d, 16)
	case outliersLow:
		h := m.hists[w]
		for _, v := range d {
			u := magnitudeBits(v)
			switch int(u >> 16) {
			case m.d1:
				h[u&0xffff]++
			case m.d2:
				h[1<<16|u&0xffff]++
			}
		}
	case outliersCount:
		return tensor.CountMagnitude(d, m.vLo), tensor.CountMagnitude(d, m.vHi)
	}
	return 0, 0
}

func (st *outliersState) EndPass(int) (more bool, err error) {
	for _, m := range st.models {
		switch m.mode {
		case outliersWindow:
			st.endWindow(m)
		case outliersHigh:
			total := make([]int, 1<<15)
			sumHists(total, m.hists)
			m.d1, m.b1 = ascend(total, 0, m.lo)
			m.d2, m.b2 = ascend(total, 0, m.hi-1)
			switch {
			case st.lowZero && st.stored:
				// Every entry of the chosen buckets has low digit 0; each
				// piece's entries equal to the boundaries are counted next.
				m.vLo, m.vHi, m.mode = uint32(m.d1)<<16, uint32(m.d2)<<16, outliersCount
				m.rankLo, m.rankHi = make([]int, st.pieces), make([]int, st.pieces)
			case st.lowZero:
				m.vLo, m.vHi, m.mode = uint32(m.d1)<<16, uint32(m.d2)<<16, outliersDone
			default:
				m.mode, m.hists = outliersLow, newHists(len(m.hists), 2<<16)
			}
		case outliersLow:
			total := make([]int, 2<<16)
			sumHists(total, m.hists)
			low1, low2 := total[:1<<16], total[1<<16:]
			if m.d1 == m.d2 {
				low2 = low1
			}
			l1, b1 := ascend(low1, m.b1, m.lo)
			l2, b2 := ascend(low2, m.b2, m.hi-1)
			m.vLo, m.vHi, m.b1, m.b2, m.mode = uint32(m.d1)<<16|uint32(l1), uint32(m.d2)<<16|uint32(l2), b1, b2, outliersDone
		case outliersCount:
			m.pieceRanks(func(p int) (int, int) { return m.rankLo[p], m.rankHi[p] })
			m.mode = outliersDone
		}
		if m.mode == outliersDone {
			m.seenLo, m.seenHi, m.hists = m.b1, m.b2, nil
		}
		more = more || m.mode != outliersDone
	}
	return more, nil
}

// endWindow ends the window pass of m: both boundaries in their windows
// end the analysis, else a histogram pass follows.
func (st *outliersState) endWindow(m *outliersStream) {
	n := st.n
	wLo, wHi := m.win[0], m.win[1]
	m.win = [2]*rankWindow{}
	vLo, b1, sLo, okLo := wLo.resolve(n)
	vHi, b2, sHi, okHi := wHi.resolve(n)
	if !okLo || !okHi {
		m.mode, m.hists = outliersHigh, newHists(len(wLo.aboves), 1<<15)
		return
	}
	m.vLo, m.vHi, m.b1, m.b2, m.mode = vLo, vHi, b1, b2, outliersDone
	if st.stored {
		m.rankLo, m.rankHi = make([]int, st.pieces), make([]int, st.pieces)
		m.pieceRanks(func(p int) (int, int) { return wLo.pieceCount(p, sLo), wHi.pieceCount(p, sHi) })
	}
}

// pieceRanks sets rankLo and rankHi to the ranks of each piece's first
// entries equal to vLo and vHi, from each piece's count eq(p) of them.
func (m *outliersStream) pieceRanks(eq func(p int) (eqLo, eqHi int)) {
	rLo, rHi := m.b1, m.b2
	for p := range m.rankLo {
		l, h := eq(p)
		m.rankLo[p], m.rankHi[p] = rLo, rHi
		rLo += l
		rHi += h
	}
}

// pruner returns the pruning of input i's task vector on the current
// piece with stored inputs, to be called on its blocks in index order; nil
// when the input is not pruned.
func (st *outliersState) pruner(t *Tensors, i int) (func(d []float32), error) {
	m, ok := st.models[i]
	switch {
	case !ok || m.all:
		return nil, nil
	case m.none:
		return func(d []float32) { clear(d) }, nil
	}
	rLo, rHi := m.rankLo[t.Piece], m.rankHi[t.Piece]
	return func(d []float32) {
		rLo, rHi = tensor.KeepMagnitudeWindow(d, m.vLo, m.vHi, rLo, rHi, m.lo, m.hi)
	}, nil
}

// term returns input i's whole term of a TIES merge on the current piece
// with stored inputs, tensor.SubWindowScaleBF16 with the piece's boundary
// ranks carried from block to block; nil when the input is not pruned or
// pruned to nothing (the pruner does those).
func (st *outliersState) term(t *Tensors, i int) termTerm {
	m, ok := st.models[i]
	if !ok || m.all || m.none {
		return nil
	}
	rLo, rHi := m.rankLo[t.Piece], m.rankHi[t.Piece]
	return func(dst, sum []float32, a, b []byte, w float32, first, last bool) {
		rLo, rHi = tensor.SubWindowScaleBF16(dst, sum, a, b, m.vLo, m.vHi, rLo, rHi, m.lo, m.hi, w, first, last)
	}
}

// apply prunes one piece of task vector i.
func (st *outliersState) apply(t *Tensors, i int, x []float32) error {
	m, ok := st.models[i]
	switch {
	case !ok || m.all:
		return nil
	case m.none:
		clear(x)
		return nil
	}
	var rLo, rHi int
	err := t.InOrder(func() {
		rLo, rHi = m.seenLo, m.seenHi
		m.seenLo += tensor.CountMagnitude(x, m.vLo)
		m.seenHi += tensor.CountMagnitude(x, m.vHi)
	})
	if err != nil {
		return err
	}
	tensor.KeepMagnitudeWindow(x, m.vLo, m.vHi, rLo, rHi, m.lo, m.hi)
	return nil
}

// magnitudeOutliersSlice resolves the Python slice [start:stop] over n
// items to a half-open range; -0 is 0, so [k:-0] is empty.
func magnitudeOutliersSlice(n, start, stop int) (int, int) {
	norm := func(v int) int {
		if v < 0 {
			v += n
		}
		return max(0, min(v, n))
	}
	return norm(start), norm(stop)
}

// magnitudeOutliersKeep keeps the elements of x whose rank by ascending
// magnitude (equal magnitudes in index order, like a stable sort) is in
// [lo, hi) and zeroes the others. It finds the two boundary magnitudes by
// radix selection (histograms of the magnitude bits, built in parallel)
// instead of sorting, then counts the boundary values block by block so
// that equal magnitudes are ranked in index order while blocks are pruned
// in parallel.
func magnitudeOutliersKeep(x []float32, lo, hi int, lowZero bool) {
	n := len(x)
	switch {
	case lo >= hi:
		clear(x)
		return
	case lo == 0 && hi == n:
		return
	}
	vLo, belowLo, vHi, belowHi := ascendingRanks(x, lo, hi-1, lowZero)
	// Entries equal to each boundary in every block, for their ranks.
	blocks := (n + rankBlock - 1) / rankBlock
	eqLo, eqHi := make([]int, blocks), make([]int, blocks)
	parallelUnits(blocks, rankBlock, func(b0, b1 int) {
		for b := b0; b < b1; b++ {
			xb := x[b*rankBlock : min(n, (b+1)*rankBlock)]
			eqLo[b] = tensor.CountMagnitude(xb, vLo)
			eqHi[b] = tensor.CountMagnitude(xb, vHi)
		}
	})
	seenLo, seenHi := belowLo, belowHi
	for b := range blocks {
		eqLo[b], seenLo = seenLo, seenLo+eqLo[b] // rank of the block's first entry equal to vLo
		eqHi[b], seenHi = seenHi, seenHi+eqHi[b]
	}
	parallelUnits(blocks, rankBlock, func(b0, b1 int) {
		for b := b0; b < b1; b++ {
			tensor.KeepMagnitudeWindow(x[b*rankBlock:min(n, (b+1)*rankBlock)], vLo, vHi, eqLo[b], eqHi[b], lo, hi)
		}
	})
}

// rankBlock is the block of magnitudeOutliersKeep's boundary counts.
const rankBlock = 1 << 16

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ascendingRanks returns the magnitude bits of the entries of x with
// 0-based ranks q1 ≤ q2 in ascending order of magnitude, and how many
// entries are smaller than each: a radix selection on the high 16 bits,
// then on the low 16 bits inside the chosen buckets — skipped when
// lowZero says every low half is zero (bfloat16 values).
func ascendingRanks(x []float32, q1, q2 int, lowZero bool) (v1 uint32, below1 int, v2 uint32, below2 int) {
	high := parallelHistogram(x, 1<<15, func(h []uint32, x []float32) { tensor.MagnitudeHistogram(h, x, 16) })
	d1, b1 := ascend(high, 0, q1)
	d2, b2 := ascend(high, 0, q2)
	if lowZero {
		return uint32(d1) << 16, b1, uint32(d2) << 16, b2
	}
	// Bucket d1's low digits in the first half, d2's in the second.
	low := parallelHistogram(x, 2<<16, func(h []uint32, x []float32) {
		for _, v := range x {
			u := magnitudeBits(v)
			switch int(u >> 16) {
			case d1:
				h[u&0xffff]++
			case d2:
				h[1<<16|u&0xffff]++
			}
		}
	})
	low1, low2 := low[:1<<16], low[1<<16:]
	if d1 == d2 {
		low2 = low1
	}
	l1, b1 := ascend(low1, b1, q1)
	l2, b2 := ascend(low2, b2, q2)
	return uint32(d1)<<16 | uint32(l1), b1, uint32(d2)<<16 | uint32(l2), b2
}

// ascend walks a radix histogram from its lowest digit up, starting with
// below entries already counted under it, to the digit that holds the
// entry of rank q; it returns that digit and the entries below it.
func ascend(hist []int, below, q int) (digit, newBelow int) {
	for b, c := range hist {
		if below+c > q {
			return b, below
		}
		below += c
	}
	return len(hist) - 1, below // unreachable for q below the entries counted
}

// parallelHistogram runs count over ranges of x on every CPU, each into
// its own histogram of size bins, and returns their sum.
func parallelHistogram(x []float32, size int, count func(h []uint32, x []float32)) []int {
	var mu sync.Mutex
	total := make([]int, size)
	parallelUnits(len(x), 1, func(lo, hi int) {
		h := make([]uint32, size)
		count(h, x[lo:hi])
		mu.Lock()
		for b, c := range h {
			total[b] += int(c)
		}
		mu.Unlock()
	})
	return total
}

// ErrDellaEpsilon is returned when della's epsilon puts a keep probability
// density ± epsilon outside (0, 1).
var ErrDellaEpsilon = errors.New("epsilon must be chosen such that density +/- epsilon is in (0, 1)")

// sparsifyDella is mergekit's "della_magprune" sparsifier (DELLA-Merging,
// Deep et al., arXiv:2406.11617). Along dimension 1 of the tensor (each
// row of a matrix; a vector is one row; for [E, A, B] tensors the middle
// axis) the magnitudes are ranked 1…c in ascending order (ties in index
// order) and element j is kept with probability
//
//	p = density − epsilon + 2·epsilon·(rank − 1)/(c − 1)
//
// so the smallest gets density − epsilon and the largest density +
// epsilon. Ranks and probabilities are held in randomWorkDType, so
// bfloat16 rounds ranks above 256 as mergekit does. With rescale the L1
// norm of the whole tensor is restored. density ≥ 1 keeps everything,
// density ≤ 0 drops everything; density ± epsilon outside (0, 1) is
// ErrDellaEpsilon, and c = 1 gives mergekit's NaN probabilities, an error.
func sparsifyDella(t *Tensors, i int, delta []float32) error {
	p := t.Inputs[i].Params
	density, eps := p["density"], p["epsilon"]
	switch {
	case density >= 1:
		return nil
	case density <= 0:
		clear(delta)
		return nil
	case density+eps >= 1 || density-eps <= 0 || math.IsNaN(eps):
		return fmt.Errorf("%s, %s: density %g, epsilon %g: %w", t.Name, t.Inputs[i].Model, density, eps, ErrDellaEpsilon)
	}
	rows, c, inner := dellaLayout(t.Shape, len(delta))
	if c < 2 {
		return fmt.Errorf("%s: della ranks along dimension 1, which has size %d: the keep probabilities are NaN (mergekit fails here too)", t.Name, c)
	}
	if st, ok := t.State.(*dellaState); ok {
		st.apply(t, i, delta)
		return nil
	}
	work := randomWorkDType(t.Work)
	bounds := dellaBounds(work, c, density, eps)
	rescale := t.Global["rescale"] != 0
	var orig float64
	if rescale {
		orig = tensor.SumAbs(delta)
	}
	// Rows are ranked and masked in parallel; each range of rows draws
	// from the model's stream skipped to its first element, so the masks
	// are those of one pass in index order.
	rowSize := c * inner
	parallelUnits(rows, rowSize, func(lo, hi int) {
		src := newRandomSource(t.Seed, t.Inputs[i].Model)
		src.skip(uint64(lo * rowSize))
		var rk ranker
		dellaDrop(delta[lo*rowSize:hi*rowSize], c, inner, bounds, src, &rk, make([]int32, rowSize), nil, t.Work == tensor.BF16, nil, nil, nil)
	})
	if rescale {
		rescaleL1(work, delta, orig)
		tensor.Round(t.Work, delta)
	}
	return nil
}

// dellaDrop ranks the magnitudes of each row of x (rows of c × inner
// elements, see ranker) and zeroes each element unless the next draw of
// src is below the bound of its rank; one draw per element, in index
// order. rank is a buffer of one row. When keep is not nil, bit j of keep
// (keep[j/64] bit j%64) is set for every element j kept. counted says that
// x holds bfloat16 values, which dropCounted ranks faster (it checks).
// prep, when not nil, is called on each row (and its offset in x) before
// it is ranked, while it is in cache; all and kept, when not nil, get the
// magnitudes of each row before and after its drop (AbsSum.Add), taken
// in the walk that drops (dropCounted) where it can.
func dellaDrop(x []float32, c, inner int, bounds []uint64, src *randomSource, rk *ranker, rank []int32, keep []uint64, counted bool, prep func(row []float32, lo int), all, kept *tensor.AbsSum) {
	rowSize := c * inner
	draws := rk.draws(rowSize)
	var limits []uint32
	if inner == 1 && counted {
		limits = dellaLimits(bounds, rk.limits)
		if limits != nil {
			rk.limits = limits
		}
	}
	for lo := 0; lo < len(x); lo += rowSize {
		row := x[lo : lo+rowSize]
		if prep != nil {
			prep(row, lo)
		}
		src.fill(draws)
		dellaDropRow(row, lo, c, inner, bounds, draws, limits, rk, rank, keep, counted, all, kept)
	}
}

// dellaDropRow is dellaDrop's work on the row at offset lo of x.
func dellaDropRow(row []float32, lo, c, inner int, bounds []uint64, draws, limits []uint32, rk *ranker, rank []int32, keep []uint64, counted bool, all, kept *tensor.AbsSum) {
	if inner == 1 && counted && rk.dropCounted(row, draws, bounds, limits, keep, lo, all, kept) {
		return
	}
	if all != nil {
		all.Add(row)
	}
	rk.ranks(rank, row, c, inner)
	// Branch-free: the outcomes are random.
	if keep == nil {
		for j, r := range rank {
			k := b2u(uint64(draws[j]) < bounds[r])
			row[j] = math.Float32frombits(math.Float32bits(row[j]) & -k)
		}
	} else {
		for j, r := range rank {
			k := b2u(uint64(draws[j]) < bounds[r])
			row[j] = math.Float32frombits(math.Float32bits(row[j]) & -k)
			keep[uint(lo+j)/64] |= uint64(k) << (uint(lo+j) % 64)
		}
	}
	if kept != nil {
		kept.Add(row)
	}
}

// dellaState is DELLA's drop streamed over pieces of whole rows
// (PieceUnit): one Analysis pass ranks each piece's rows, draws their
// masks (from the model's stream skipped to the piece's first element, so
// the masks are those of the whole tensor), keeps them as bits, and sums
// |δ| and the kept |δ| for the L1 rescale; Merge then applies the stored
// masks and the rescale factor. Piece sums are added in piece order.
type dellaState struct {
	models   []*dellaStream // per input; nil when it is not pruned
	rescale  bool
	work     tensor.DType
	c, inner int
	rankers  []ranker  // per worker
	ranks    [][]int32 // per worker
}

type dellaStream struct {
	bounds    []uint64
	none      bool       // density ≤ 0: every element dropped
	keep      [][]uint64 // per piece: the mask bits
	all, kept []float64  // per piece
	factor    float32    // rescale factor; 0 means none
}

// dellaUnit is DELLA's PieceUnit: a row along dimension 0 (dellaLayout),
// the span its ranks are taken over.
func dellaUnit(t *Tensors) int64 {
	_, c, inner := dellaLayout(t.Shape, int(numElements(t.Shape)))
	return int64(c * inner)
}

func analyzeDella(t *Tensors) (Analysis, error) {
	n := int(numElements(t.Shape))
	_, c, inner := dellaLayout(t.Shape, n)
	st := &dellaState{models: make([]*dellaStream, len(t.Inputs)), rescale: t.Global["rescale"] != 0,
		work: randomWorkDType(t.Work), c: c, inner: inner,
		rankers: make([]ranker, t.Workers), ranks: make([][]int32, t.Workers)}
	for i, in := range t.Inputs {
		density, eps := in.Params["density"], in.Params["epsilon"]
		switch {
		case i == t.Base || density >= 1:
			continue
		case density <= 0:
			st.models[i] = &dellaStream{none: true}
			continue
		case density+eps >= 1 || density-eps <= 0 || math.IsNaN(eps):
			return nil, fmt.Errorf("%s, %s: density %g, epsilon %g: %w", t.Name, in.Model, density, eps, ErrDellaEpsilon)
		case c < 2:
			return nil, fmt.Errorf("%s: della ranks along dimension 1, which has size %d: the keep probabilities are NaN (mergekit fails here too)", t.Name, c)
		}
		st.models[i] = &dellaStream{bounds: dellaBounds(st.work, c, density, eps), keep: make([][]uint64, t.Pieces),
			all: make([]float64, t.Pieces), kept: make([]float64, t.Pieces)}
	}
	return st, nil
}

func (st *dellaState) Piece(t *Tensors) error {
	rank := st.ranks[t.Worker]
	if rank == nil {
		rank = make([]int32, st.c*st.inner)
		st.ranks[t.Worker] = rank
	}
	var base []byte
	var tv []float32
	if t.Stored {
		base, tv = t.Inputs[t.Base].BF16, t.Scratch(len(t.Inputs[t.Base].BF16)/2)
	}
	for i, m := range st.models {
		if m == nil || m.none {
			continue
		}
		d := t.Inputs[i].Data // a task vector (TaskVectors), pruned in place
		if t.Stored {
			// The task vector from the stored bytes, as the executor
			// computes it otherwise.
			d = tv
		}
		src := newRandomSource(t.Seed, t.Inputs[i].Model)
		src.skip(uint64(t.Offset))
		keep := getKeep((len(d) + 63) / 64) // back to the pool once merged (pruner, apply)
		rk, counted := &st.rankers[t.Worker], t.Work == tensor.BF16
		if rowSize := st.c * st.inner; rowSize%16 == 0 {
			// Row by row while each is in cache: its task vector, the
			// drop, and the sums of the L1 rescale over the piece
			// (tensor.AbsSum adds as SumAbs over the whole piece would)
			// before and after it, in the walk that drops where it can.
			var all, kept tensor.AbsSum
			var prep func(row []float32, lo int)
			if t.Stored {
				in := t.Inputs[i].BF16
				prep = func(row []float32, lo int) {
					tensor.SubBF16Bytes(row, in[2*lo:2*(lo+len(row))], base[2*lo:2*(lo+len(row))])
				}
			}
			var allSum, keptSum *tensor.AbsSum
			if st.rescale {
				allSum, keptSum = &all, &kept
			}
			dellaDrop(d, st.c, st.inner, m.bounds, src, rk, rank, keep, counted, prep, allSum, keptSum)
			if st.rescale {
				m.all[t.Piece], m.kept[t.Piece] = all.Sum(), kept.Sum()
			}
		} else {
			if t.Stored {
				tensor.SubBF16Bytes(d, t.Inputs[i].BF16, base)
			}
			if st.rescale {
				m.all[t.Piece] = tensor.SumAbs(d)
			}
			dellaDrop(d, st.c, st.inner, m.bounds, src, rk, rank, keep, counted, nil, nil, nil)
			if st.rescale {
				m.kept[t.Piece] = tensor.SumAbs(d)
			}
		}
		m.keep[t.Piece] = keep
	}
	return nil
}

func (st *dellaState) EndPass(int) (bool, error) {
	if !st.rescale {
		return false, nil
	}
	for _, m := range st.models {
		if m == nil || m.none {
			continue
		}
		var all, kept float64
		for p := range m.all {
			all += m.all[p]
			kept += m.kept[p]
		}
		m.factor = rescaleFactor(st.work, all, kept)
	}
	return false, nil
}

// pruner returns the drop (and rescale) of input i's task vector on the
// current piece with stored inputs, from the masks of the Analysis pass,
// to be called on its blocks (whole multiples of 64 elements but the last)
// in index order; nil when the input is not pruned.
func (st *dellaState) pruner(t *Tensors, i int) (func(d []float32), error) {
	m := st.models[i]
	switch {
	case m == nil:
		return nil, nil
	case m.none:
		return func(d []float32) { clear(d) }, nil
	}
	bits, pos, n := m.keep[t.Piece], 0, len(t.Inputs[i].BF16)/2
	return func(d []float32) {
		if pos%64 != 0 {
			panic("della: stored block not aligned to its mask words")
		}
		st.keepBits(t.Work, m, d, bits[pos/64:])
		pos += len(d)
		if pos >= n { // the piece's last block: its mask is done with
			m.keep[t.Piece] = nil
			putKeep(bits)
		}
	}, nil
}

var _ termState = (*dellaState)(nil) // gtaStored's fused terms

// term returns input i's whole term on the current piece for gtaStored,
// made by tensor.SubKeepBitsScaleBF16 from the piece's mask bits and the
// rescale factor, to be called on its blocks (whole multiples of 64
// elements but the last) in index order; like pruner's blocks, the last
// hands the mask back. nil when the input is not pruned or drops
// everything (pruner clears it then) or the work dtype is not bfloat16.
func (st *dellaState) term(t *Tensors, i int) termTerm {
	m := st.models[i]
	if m == nil || m.none || st.work != tensor.BF16 || t.Work != tensor.BF16 {
		return nil
	}
	var f float32 // keepBits: KeepBits without a factor
	if st.rescale {
		f = m.factor
	}
	bits, pos, n, piece := m.keep[t.Piece], 0, len(t.Inputs[i].BF16)/2, t.Piece
	return func(dst, sum []float32, a, b []byte, w float32, first, last bool) {
		if pos%64 != 0 {
			panic("della: stored block not aligned to its mask words")
		}
		tensor.SubKeepBitsScaleBF16(dst, sum, a, b, bits[pos/64:], f, w, first, last)
		pos += len(dst)
		if pos >= n { // the piece's last block: its mask is done with
			m.keep[piece] = nil
			putKeep(bits)
		}
	}
}

// apply prunes (and rescales) one piece of task vector i with its stored
// mask.
func (st *dellaState) apply(t *Tensors, i int, x []float32) {
	m := st.models[i]
	switch {
	case m == nil:
		return
	case m.none:
		clear(x)
		return
	}
	st.keepBits(t.Work, m, x, m.keep[t.Piece])
	putKeep(m.keep[t.Piece])
	m.keep[t.Piece] = nil
}

// keepBits zeroes the elements of x whose bit in bits is clear and
// rescales the others by m's factor, if any, rounding to the working
// dtype work.
func (st *dellaState) keepBits(work tensor.DType, m *dellaStream, x []float32, bits []uint64) {
	if !st.rescale || m.factor == 0 {
		tensor.KeepBits(x, bits)
	} else {
		tensor.KeepBitsScaleRound(st.work, x, bits, m.factor)
	}
	// The task vectors are in work already, and so is the rescale when
	// st.work is work (bfloat16, float32).
	if st.rescale && st.work != work {
		tensor.Round(work, x)
	}
}

// dellaLayout views a tensor of n elements as [rows, c, inner] with c the
// size of dimension 1; a vector (or scalar) is one row.
func dellaLayout(shape []int64, n int) (rows, c, inner int) {
	if len(shape) < 2 {
		return 1, n, 1
	}
	rows, c = int(shape[0]), int(shape[1])
	inner = 1
	for _, d := range shape[2:] {
		inner *= int(d)
	}
	return rows, c, inner
}

// dellaBounds returns, for each 0-based rank, the randomThreshold of its
// keep probability, computed with mergekit's op sequence in dtype work:
// ranks (0-based, +1), (rank − min)/(max − min), then
// (density − epsilon) + rank_norm·2·epsilon.
func dellaBounds(work tensor.DType, c int, density, eps float64) []uint64 {
	r := func(v float32) float32 { return roundTo(work, v) }
	minRank := r(r(0) + 1)
	maxRank := r(r(float32(c-1)) + 1)
	span := r(maxRank - minRank)
	lowP, e := float32(density-eps), float32(eps)
	out := make([]uint64, c)
	for k := range out {
		rank := r(r(float32(k)) + 1)
		norm := min(max(r(r(rank-minRank)/span), 0), 1)
		out[k] = randomThreshold(r(lowP + r(r(norm*2)*e)))
	}
	return out
}

// ranker ranks vectors by magnitude: ranks writes into rank the 0-based
// ascending-magnitude rank of every element of one row x (c × inner
// elements) within its vector along dimension 1, equal magnitudes in index
// order as a stable sort would. It is a stable least-significant-digit
// radix sort (8-bit digits, digits that every key shares skipped), which
// keeps equal magnitudes in index order; its buffers are reused.
type ranker struct {
	key, tmpKey []uint32
	idx, tmpIdx []int32
	drawBuf     []uint32
	counts      *countTable // dropCounted's
	limits      []uint32    // dellaLimits's
	words       []uint16    // keep bits dropCounted discards
}

// draws returns a buffer of n draws, reused.
func (r *ranker) draws(n int) []uint32 {
	if cap(r.drawBuf) < n {
		r.drawBuf = make([]uint32, n)
	}
	return r.drawBuf[:n]
}

func (r *ranker) ranks(rank []int32, x []float32, c, inner int) {
	if cap(r.key) < c {
		r.key, r.tmpKey = make([]uint32, c), make([]uint32, c)
		r.idx, r.tmpIdx = make([]int32, c), make([]int32, c)
	}
	for in := 0; in < inner; in++ {
		key, tmpKey := r.key[:c], r.tmpKey[:c]
		idx, tmpIdx := r.idx[:c], r.tmpIdx[:c]
		// The histograms of the high digits in one pass; those of the low
		// two in a second one only when some key has low bits (bfloat16
		// values have none).
		var count [4][256]int32
		var low uint32
		for k := range key {
			v := magnitudeBits(x[in+k*inner])
			key[k] = v
			idx[k] = int32(k)
			low |= v
			count[2][v>>16&0xff]++
			count[3][v>>24]++
		}
		if low&0xffff != 0 {
			for _, v := range key {
				count[0][v&0xff]++
				count[1][v>>8&0xff]++
			}
		} else {
			count[0][0], count[1][0] = int32(c), int32(c)
		}
		// The last digit that sorts anything writes the ranks directly
		// instead of scattering keys once more and then reading them back.
		last := -1
		for d := range count {
			if int(count[d][key[0]>>uint(8*d)&0xff]) != c {
				last = d
			}
		}
		if last < 0 { // every key equal: ranks in index order
			for k := range c {
				rank[in+k*inner] = int32(k)
			}
			continue
		}
		for d := 0; d <= last; d++ {
			shift := uint(8 * d)
			cd := &count[d]
			if int(cd[key[0]>>shift&0xff]) == c {
				continue // every key has this digit (bfloat16 values: the low two)
			}
			var sum int32
			for b, n := range cd {
				cd[b] = sum
				sum += n
			}
			if d == last {
				for k, v := range key {
					b := v >> shift & 0xff
					rank[in+int(idx[k])*inner] = cd[b]
					cd[b]++
				}
				break
			}
			for k, v := range key {
				b := v >> shift & 0xff
				tmpKey[cd[b]] = v
				tmpIdx[cd[b]] = idx[k]
				cd[b]++
			}
			key, tmpKey = tmpKey, key
			idx, tmpIdx = tmpIdx, idx
		}
	}
}

// randomState is DARE's random pruning streamed over pieces: one Analysis
// pass draws each piece's masks (from a stream skipped to the piece's
// first element) and sums |δ| and the kept |δ| for the L1 rescale; Merge
// then redraws the same masks. Piece sums are added in piece order.
type randomState struct {
	models  map[int]*randomStream
	rescale bool
	work    tensor.DType
}

type randomStream struct {
	bound     uint64
	all, kept []float64 // per piece
	factor    float32   // rescale factor; 0 means none
}

func analyzeRandom(t *Tensors) (Analysis, error) {
	st := &randomState{models: map[int]*randomStream{}, rescale: t.Global["rescale"] != 0, work: randomWorkDType(t.Work)}
	for i, in := range t.Inputs {
		density := in.Params["density"]
		if i == t.Base || density >= 1 {
			continue
		}
		if !(density >= 0) {
			return nil, fmt.Errorf("density %g of %s for %s is not a probability", density, in.Model, t.Name)
		}
		st.models[i] = &randomStream{bound: randomThreshold(randomProbability(t.Work, density)),
			all: make([]float64, t.Pieces), kept: make([]float64, t.Pieces)}
	}
	return st, nil
}

func (st *randomState) Piece(t *Tensors) error {
	if t.Base < 0 || !st.rescale {
		return nil
	}
	if t.Stored && t.be() == tensor.CPU {
		st.storedPiece(t)
		return nil
	}
	var base []byte
	var d []float32
	if t.Stored {
		base, d = t.Inputs[t.Base].BF16, t.Scratch(len(t.Inputs[t.Base].BF16)/2)
	}
	for i, m := range st.models {
		if t.Stored {
			tensor.SubBF16Bytes(d, t.Inputs[i].BF16, base)
		} else {
			d = t.Inputs[i].Data // a task vector (TaskVectors), pruned in place
		}
		m.all[t.Piece] = tensor.SumAbs(d)
		src := newRandomSource(t.Seed, t.Inputs[i].Model)
		src.skip(uint64(t.Offset))
		if _, err := src.bernoulliOn(t.be(), d, m.bound); err != nil {
			return fmt.Errorf("DARE mask of %s for %s: %w", t.Inputs[i].Model, t.Name, err)
		}
		m.kept[t.Piece] = tensor.SumAbs(d)
	}
	return nil
}

// storedPiece is Piece on stored inputs on the CPU: each task vector's
// sums before and after the drop are taken block by block from the stored
// bytes and the model's stream (tensor.SubKeepAbsSumsStreamBF16), without
// writing the task vector, its pruned copy or the draws; the sums are
// SumAbs's of the piece.
func (st *randomState) storedPiece(t *Tensors) {
	base := t.Inputs[t.Base].BF16
	n := len(base) / 2
	for i, m := range st.models {
		x := t.Inputs[i].BF16
		var all, kept tensor.AbsSum
		key := newRandomSource(t.Seed, t.Inputs[i].Model).key
		for lo := 0; lo < n; lo += consensusBlock {
			end := min(n, lo+consensusBlock)
			if m.bound >= 1<<32 {
				// Every entry is kept: bernoulli draws nothing, and any
				// bound above every draw keeps what it keeps.
				var zeros [consensusBlock]uint32
				tensor.SubKeepAbsSumsBF16(&all, &kept, x[2*lo:2*end], base[2*lo:2*end], zeros[:end-lo], 1)
				continue
			}
			tensor.SubKeepAbsSumsStreamBF16(&all, &kept, x[2*lo:2*end], base[2*lo:2*end], key, uint64(t.Offset)+uint64(lo), uint32(m.bound))
		}
		m.all[t.Piece], m.kept[t.Piece] = all.Sum(), kept.Sum()
	}
}

func (st *randomState) EndPass(int) (bool, error) {
	if !st.rescale {
		return false, nil
	}
	for _, m := range st.models {
		var all, kept float64
		for p := range m.all {
			all += m.all[p]
			kept += m.kept[p]
		}
		m.factor = rescaleFactor(st.work, all, kept)
	}
	return false, nil
}

// pruner returns DARE's drop (and rescale) of input i's task vector on
// the current piece with stored inputs, to be called on its blocks in
// index order; nil when the input is not pruned.
func (st *randomState) pruner(t *Tensors, i int) (func(d []float32), error) {
	m, ok := st.models[i]
	if !ok {
		return nil, nil
	}
	src := newRandomSource(t.Seed, t.Inputs[i].Model)
	src.skip(uint64(t.Offset))
	return func(d []float32) {
		src.bernoulli(d, m.bound) // the stream goes on from block to block
		if m.factor != 0 {
			tensor.ScaleRound(st.work, d, m.factor)
			if st.work != t.Work {
				tensor.Round(t.Work, d)
			}
		}
	}, nil
}

// term returns input i's whole term on the current piece for gtaStored,
// made by tensor.SubKeepScaleStreamBF16 from the model's stream at the
// piece's first element; nil when the input is not pruned, when the bound
// keeps everything (bernoulli draws nothing then) or the work dtype is not
// bfloat16.
func (st *randomState) term(t *Tensors, i int) termTerm {
	m, ok := st.models[i]
	if !ok || m.bound >= 1<<32 || st.work != tensor.BF16 || t.Work != tensor.BF16 {
		return nil
	}
	key, at := newRandomSource(t.Seed, t.Inputs[i].Model).key, uint64(t.Offset)
	bound, factor := uint32(m.bound), m.factor
	return func(dst, sum []float32, a, b []byte, w float32, first, last bool) {
		tensor.SubKeepScaleStreamBF16(dst, sum, a, b, key, at, bound, factor, w, first, last)
		at += uint64(len(dst)) // the stream goes on from block to block
	}
}

// apply prunes (and rescales) one piece of task vector i.
func (st *randomState) apply(t *Tensors, i int, x []float32) error {
	m, ok := st.models[i]
	if !ok {
		return nil
	}
	src := newRandomSource(t.Seed, t.Inputs[i].Model)
	src.skip(uint64(t.Offset))
	if _, err := src.bernoulliOn(t.be(), x, m.bound); err != nil {
		return fmt.Errorf("DARE mask of %s for %s: %w", t.Inputs[i].Model, t.Name, err)
	}
	if m.factor != 0 {
		tensor.ScaleRound(st.work, x, m.factor)
		if st.work != t.Work {
			tensor.Round(t.Work, x)
		}
	}
	return nil
}
