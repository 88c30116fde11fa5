package merge

import (
	"fmt"
	"math"
	stdbits "math/bits"
	"sync"

	"github.com/gomerge/gomerge/tensor"
)

// SCE is mergekit's "sce", Select–Calculate–Erase (Wan et al.,
// "FuseChat: Knowledge Fusion of Chat Models", arXiv:2408.07990). With
// task vectors τ_i = X_i − B:
//
//	Select:    with select_topk < 1, keep only the ⌊select_topk·nnz(v)⌋
//	           positions of largest variance v = Var_i(τ_i) (population
//	           variance across models; nnz counts its non-zeros) and zero
//	           all τ_i elsewhere;
//	Calculate: q_i = mean(τ_i²), normalised to Σq = 1 (1/n each when
//	           |Σq| < 1e-6);
//	Erase:     σ = sign(Σ_i τ_i), M_i = [sign(τ_i) = σ];
//	R = B + Σ_i q_i·M_i·τ_i / max(Σ_i q_i·M_i, 1e-6)
//
// There are no per-model weights. Equal variances at the selection
// boundary are taken in index order. int8_mask has no numerical effect.
//
// The tensor is streamed in pieces (sceState): analysis passes find the
// selection threshold and the weights q_i, then every piece is merged.
var SCE = &Method{
	Name:   "sce",
	Pretty: "SCE",
	URL:    "https://arxiv.org/abs/2408.07990",
	Base:   BaseRequired,
	Global: []Param{
		{Name: "int8_mask", Default: 0},
		{Name: "select_topk", Default: 1},
	},
	MinInputs:   1,
	EmbedRule:   EmbedExact,
	Merge:       mergeSCE,
	TaskVectors: true,
	Analyze:     analyzeSCE,
	StoredBF16:  true,
	WantsSample: true,
}

func init() { Register(SCE) }

// The passes of sceState.
const (
	sceWindow = iota // variances: non-zeros, counts above and inside a window
	sceHigh          // variances: non-zeros and a histogram of the high 16 bits
	sceLow           // histogram of the low 16 bits inside the chosen bucket
	sceWeigh         // sums of the kept task vectors' squares
	sceDone
)

// sceState is sce streamed over the pieces of one tensor. The selection
// threshold is found by radix selection over the float32 bits of the
// variances (which are ≥ 0, so their bits order like their values): a
// histogram of the high 16 bits, and for a working dtype other than
// bfloat16 (whose low 16 bits are zero) one of the low 16 bits inside the
// chosen bucket. Every piece keeps its own histograms, so that once the
// threshold is known so is how many variances equal to it each piece
// holds, and hence, in index order, how many of them it keeps (keep): the
// weights pass and Merge then need nothing from other pieces. (A piece's
// high histogram is 128 KiB, half a byte per element of a full piece.) The
// weights pass records the kept positions of each piece in a bit mask,
// which Merge applies instead of computing the variances a third time.
//
// The squares of the kept task vectors are summed in float64 piece by
// piece, and the pieces' sums added in piece order; a tensor merged whole
// is cut into pieces of chunkElements, as the executor cuts it, so both
// give the same bytes.
//
// In bfloat16, when the executor hands Analyze a sample of the tensor, the
// sample's variances name a window of a few bfloat16 values that very
// likely holds the threshold (sampleWindow, as for ties): the first pass
// then only counts the variances above the window and, per piece, those
// at each value inside it (tensor.CountAboveWindowShift, a SIMD count),
// which decides the threshold and every piece's ties as the histograms
// would; the histogram pass follows only when the window misses.
//
// The window pass also sums the kept squares, so that when the window
// holds the threshold the analysis takes that one pass: every piece sums
// the squares of each task vector for every bound the threshold may take
// inside the window (tensor.SquaresFromBF16: one float64 chain per bound,
// as the weights pass would sum them). A piece that keeps all or none of
// its variances equal to the threshold has its sum in the chain of that
// bound or of the next. At most one piece keeps some of its ties but not
// all; its sum is known when no addition of its chain rounds, which holds
// when its squares, multiples of the ulp of the smallest (MinMagnitude),
// sum to less than 2^52 of those: its sum is then that of the squares
// above the threshold plus those of the ties it keeps, which the pass
// records for the variances inside the window. Otherwise a weights pass
// over that piece alone follows. The window pass also keeps, per piece,
// bits for the variances above the window and inside it, which with the
// record of those inside give Merge the kept positions (windowMask)
// without computing the variances again. On stored inputs the passes run
// fused kernels from the stored bytes: tensor.SubVarianceBF16 and
// tensor.MarkWindow in the window pass, tensor.EraseMergeBF16 in Merge.
type sceState struct {
	work      tensor.DType
	n         int64 // elements in the tensor
	models    int   // task vectors
	selecting bool  // 0 < select_topk < 1
	topk      float64
	mode      int

	hists       [][]uint32     // per piece, in sceHigh and sceLow
	nonzero     []int          // per piece: non-zero variances
	counts      []int          // per piece: variances in the chosen bucket, then equal to thr
	k           int            // positions kept
	above       int            // variances above the chosen bucket
	digit       uint32         // the chosen high 16 bits
	thr         uint32         // the bits of the k-th largest variance
	keep        []int          // per piece: variances equal to thr that it keeps
	lo, hi      uint32         // the window's bits, in sceWindow
	insideShare float64        // of the sample's variances inside the window
	win         []uint32       // per piece, in sceWindow: windowLen counts
	aboves      []int          // per piece, in sceWindow: variances above the window
	from        [8]uint32      // the bounds of the window pass's chains: lo, lo+1<<16, …
	chains      [][][8]float64 // per piece, per task vector: the window pass's sums
	minTau      [][]uint32     // per piece, per task vector: MinMagnitude of τ
	inside      []*sceInside   // per piece: its variances inside the window
	bits        [][]uint64     // per piece, from sceWindow: above the window, then inside it
	only        int            // the piece the weights pass sums, or -1 for all
	masks       [][]uint64     // per piece: a bit for each position kept

	sums [][]float64 // per piece, per task vector: Σ round(τ²) over kept positions
	q    []float32

	passes int // analysis passes run, for tests
}

// sceNothing is a threshold no variance's bits exceed or equal: nothing
// is kept.
const sceNothing = math.MaxUint32

func analyzeSCE(t *Tensors) (Analysis, error) {
	return newSCEState(t, numElements(t.Shape), t.Pieces)
}

func newSCEState(t *Tensors, n int64, pieces int) (*sceState, error) {
	if t.Base < 0 {
		return nil, fmt.Errorf("%s: sce: base model tensor required but not present", t.Name)
	}
	topk := t.Global["select_topk"]
	st := &sceState{work: t.Work, n: n, models: len(t.Inputs) - 1, topk: topk, mode: sceWeigh,
		selecting: topk > 0 && topk < 1, only: -1}
	switch {
	case st.models == 0:
		st.mode = sceDone
	case topk <= 0:
		// Everything is zeroed: every Σq is 0.
		st.q, st.mode = sceWeights(st.work, make([]float64, st.models), n), sceDone
	case st.selecting:
		st.mode = sceHigh
		st.hists = make([][]uint32, pieces)
		st.nonzero = make([]int, pieces)
		st.counts = make([]int, pieces)
		st.keep = make([]int, pieces)
		st.masks = make([][]uint64, pieces)
		st.chooseWindow(t, pieces)
	}
	if st.mode != sceDone {
		st.sums = make([][]float64, pieces)
	}
	return st, nil
}

// chooseSCEWindow is sampleWindow; tests replace it to force misses.
var chooseSCEWindow = sampleWindow

// chooseWindow starts with the window pass when the working dtype is
// bfloat16 and t holds a sample: the window is that of the k-th largest
// of the sample's variances, k estimated from the sample's non-zeros.
func (st *sceState) chooseWindow(t *Tensors, pieces int) {
	if st.work != tensor.BF16 || t.Sample <= 0 {
		return
	}
	_, tvs := sceInputs(t)
	if len(tvs) == 0 || len(tvs[0]) == 0 {
		return
	}
	v := make([]float32, len(tvs[0]))
	ks := int(float32(float32(sceVariance(st.work, v, tvs)) * float32(st.topk)))
	if ks == 0 {
		return
	}
	st.lo, st.hi = chooseSCEWindow(v, ks, int64(len(v)))
	inside := 0
	for _, a := range v {
		if u := magnitudeBits(a); u >= st.lo && u <= st.hi {
			inside++
		}
	}
	st.insideShare = float64(inside) / float64(len(v))
	st.mode = sceWindow
	st.win = make([]uint32, pieces*st.windowLen())
	st.aboves = make([]int, pieces)
	for b := range st.from {
		st.from[b] = math.MaxUint32
		if b <= st.windowLen() {
			st.from[b] = st.lo + uint32(b)<<16
		}
	}
	st.chains = make([][][8]float64, pieces)
	st.minTau = make([][]uint32, pieces)
	st.inside = make([]*sceInside, pieces)
	st.bits = make([][]uint64, pieces)
}

// sceInside records a piece's variances inside the window, in index
// order: the window offset of each (at) and the squares of the task
// vectors there (sq, the high 16 bits of the bfloat16 values, models per
// variance).
type sceInside struct {
	at []uint8
	sq []uint16
}

// sceInsides holds the records of pieces once summed, to be reused: a few
// per cent of a piece's positions, too much to allocate afresh for every
// piece of every tensor.
var sceInsides = sync.Pool{New: func() any { return new(sceInside) }}

// windowPiece starts piece p's share of the window pass over n positions.
func (st *sceState) windowPiece(p, n int) {
	st.bits[p] = getSCEBits(2 * ((n + 63) / 64))
	st.chains[p] = make([][8]float64, st.models)
	st.minTau[p] = make([]uint32, st.models)
	if st.inside[p] == nil {
		in := sceInsides.Get().(*sceInside)
		// Room for the sample's share of the piece inside the window and
		// some: growing the records by appends would allocate and copy
		// them several times over.
		if c := int(float64(n)*st.insideShare*1.25) + 256; cap(in.at) < c {
			in.at, in.sq = make([]uint8, 0, c), make([]uint16, 0, c*st.models)
		}
		in.at, in.sq = in.at[:0], in.sq[:0]
		st.inside[p] = in
	}
}

// dropInside gives the pieces' records and bits back.
func (st *sceState) dropInside() {
	for p := range st.inside {
		st.dropPiece(p)
	}
	st.inside, st.bits = nil, nil
}

// dropPiece gives piece p's record and bits back.
func (st *sceState) dropPiece(p int) {
	if in := st.inside[p]; in != nil {
		sceInsides.Put(in)
		st.inside[p] = nil
	}
	if b := st.bits[p]; b != nil {
		putSCEBits(b)
		st.bits[p] = nil
	}
}

// sceBits reuses the window pass's bits across pieces and tensors (a
// fresh allocation reaches its first write as new pages, costly on a VM).
var sceBits sync.Pool

// getSCEBits returns n words, from sceBits when it holds a buffer large
// enough; their contents are undefined.
func getSCEBits(n int) []uint64 {
	if p, ok := sceBits.Get().(*[]uint64); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]uint64, n)
}

// putSCEBits hands words back to sceBits.
func putSCEBits(b []uint64) {
	if cap(b) > 0 {
		sceBits.Put(&b)
	}
}

// windowMask turns piece p's bits from the window pass into the mask of
// the positions it keeps, once the threshold is set inside the window:
// those above the window, those inside it above the threshold, and the
// first keep[p] of those equal to it. It hands the piece's record back
// and returns the mask (the piece's bits, to be handed back by the
// caller once merged).
func (st *sceState) windowMask(p int) []uint64 {
	b := st.bits[p]
	words := len(b) / 2
	mask, inside := b[:words], b[words:]
	at := uint8((st.thr - st.lo) >> 16)
	keep := st.keep[p]
	in := st.inside[p]
	k := 0
	for w, bits := range inside {
		for ; bits != 0; bits &= bits - 1 {
			switch a := in.at[k]; {
			case a > at:
			case a == at && keep > 0:
				keep--
			default:
				k++
				continue
			}
			k++
			mask[w] |= 1 << stdbits.TrailingZeros64(bits)
		}
	}
	sceInsides.Put(in)
	st.inside[p], st.bits[p] = nil, nil
	return mask
}

// windowBlock adds a block of at most sceStoredBlock positions of piece
// p, in index order, to the window pass: v holds its variances, tvs its
// task vectors, lo its first position in the piece. It returns the
// non-zero variances and those above the window, and marks both those
// above the window and those inside it in the piece's bits.
func (st *sceState) windowBlock(p, lo int, v []float32, tvs [][]float32) (nonzero, above int) {
	nonzero = sceVariance(st.work, v, tvs)
	for i, tv := range tvs {
		if m := tensor.MinMagnitude(tv); m != 0 && (st.minTau[p][i] == 0 || m < st.minTau[p][i]) {
			st.minTau[p][i] = m
		}
	}
	return nonzero, st.windowRest(p, lo, v, tvs)
}

// windowRest is windowBlock after the variances and the task vectors'
// smallest magnitudes: it returns the variances above the window.
func (st *sceState) windowRest(p, lo int, v []float32, tvs [][]float32) (above int) {
	wl := st.windowLen()
	win := st.win[p*wl : (p+1)*wl]
	tensor.SquaresFromBF16(st.chains[p], tvs, v, &st.from)
	// Mark the variances above the window and inside it, count them (as
	// tensor.CountAboveWindowShift would, by bfloat16 value inside), and
	// record those inside and their squares.
	in := st.inside[p]
	words := (len(v) + 63) / 64
	b := st.bits[p]
	over := b[lo/64 : lo/64+words]
	inside := b[len(b)/2+lo/64 : len(b)/2+lo/64+words]
	tensor.MarkWindow(over, inside, v, st.lo, st.hi) // bits past len(v) clear
	for w := range words {
		above += stdbits.OnesCount64(over[w])
		for bits := inside[w]; bits != 0; bits &= bits - 1 {
			j := w<<6 + stdbits.TrailingZeros64(bits)
			at := uint8((magnitudeBits(v[j]) - st.lo) >> 16)
			win[at]++
			in.at = append(in.at, at)
			for _, tv := range tvs {
				in.sq = append(in.sq, uint16(math.Float32bits(tensor.RoundBF16(tv[j]*tv[j]))>>16))
			}
		}
	}
	return above
}

// windowLen is the number of bfloat16 values in the window.
func (st *sceState) windowLen() int { return int(st.hi-st.lo)>>16 + 1 }

// sceInputs returns the base's data and the task vectors, in input order.
func sceInputs(t *Tensors) (base []float32, tvs [][]float32) {
	for i, in := range t.Inputs {
		if i == t.Base {
			base = in.Data
		} else {
			tvs = append(tvs, in.Data)
		}
	}
	return base, tvs
}

func (st *sceState) Piece(t *Tensors) error {
	if t.Stored {
		return st.pieceStored(t)
	}
	base, _ := sceInputs(t)
	return st.piece(t, t.Scratch(len(base)))
}

// piece examines one piece; v is scratch for its variances. Only the
// weights pass changes the task vectors: it zeroes those not selected.
func (st *sceState) piece(t *Tensors, v []float32) error {
	_, tvs := sceInputs(t)
	p := t.Piece
	switch st.mode {
	case sceWindow:
		st.windowPiece(p, len(v))
		nonzero, above := 0, 0
		block := make([][]float32, len(tvs))
		for lo := 0; lo < len(v); lo += sceStoredBlock {
			hi := min(len(v), lo+sceStoredBlock)
			for i, tv := range tvs {
				block[i] = tv[lo:hi]
			}
			nz, a := st.windowBlock(p, lo, v[lo:hi], block)
			nonzero, above = nonzero+nz, above+a
		}
		st.nonzero[p], st.aboves[p] = nonzero, above
	case sceHigh:
		st.nonzero[p] = sceVariance(st.work, v, tvs)
		h := make([]uint32, 1<<15) // variances' high 16 bits are below 2^15
		tensor.MagnitudeHistogram(h, v, 16)
		st.hists[p] = h
	case sceLow:
		if st.counts[p] == 0 {
			return nil
		}
		sceVariance(st.work, v, tvs)
		h := make([]uint32, 1<<16)
		sceLowHist(h, v, st.digit)
		st.hists[p] = h
	case sceWeigh:
		if st.only >= 0 && p != st.only {
			return nil
		}
		if st.selecting {
			// Mark the kept positions for Merge, and zero the task
			// vectors elsewhere before their squares are summed (in a
			// tensor merged whole they stay zeroed: Merge's zeroing then
			// changes nothing).
			sceVariance(st.work, v, tvs)
			mask := make([]uint64, (len(v)+63)/64)
			sceMark(mask, v, st.thr, st.keep[p], st.counts[p])
			sceZero(mask, tvs)
			st.masks[p] = mask
		}
		sums := make([]float64, len(tvs))
		sceSquaresAll(st.work, sums, tvs) // zeros add nothing
		st.sums[p] = sums
	}
	return nil
}

// sceStoredBlock is the block that sce on stored inputs works in: the
// task vectors and variances of a block stay in the L1 or L2 cache from
// one kernel to the next. A multiple of 64, so that each block has whole
// words of a piece's mask.
const sceStoredBlock = 2048

// sceStoredBlocks calls fn for every block of a piece of stored bfloat16
// inputs (Tensors.Stored), in index order, with the block's bounds, its
// stored base bytes and the task vectors round(X_i − B) of the block,
// computed from the stored bytes into scratch. The task vectors are those
// the executor would hand over: the bytes of each pass do not change.
func sceStoredBlocks(t *Tensors, fn func(lo, hi int, base []byte, tvs [][]float32)) {
	baseRaw := t.Inputs[t.Base].BF16
	var raws [][]byte
	for i, in := range t.Inputs {
		if i != t.Base {
			raws = append(raws, in.BF16)
		}
	}
	scratch := t.Scratch(len(raws) * sceStoredBlock)
	tvs := make([][]float32, len(raws))
	n := len(baseRaw) / 2
	for lo := 0; lo < n; lo += sceStoredBlock {
		hi := min(n, lo+sceStoredBlock)
		b := baseRaw[2*lo : 2*hi]
		for i, x := range raws {
			d := scratch[i*sceStoredBlock : i*sceStoredBlock+hi-lo]
			tensor.SubBF16Bytes(d, x[2*lo:2*hi], b)
			tvs[i] = d
		}
		fn(lo, hi, b, tvs)
	}
}

// pieceStored is piece on stored inputs: every pass computes the task
// vectors block by block and runs its kernels on each block while it is
// in the cache. Variances, histograms, marks and sums of squares are
// computed element by element in index order, as piece computes them.
func (st *sceState) pieceStored(t *Tensors) error {
	p := t.Piece
	var vb [sceStoredBlock]float32
	switch st.mode {
	case sceWindow:
		st.windowStored(t, vb[:])
	case sceHigh:
		h := make([]uint32, 1<<15) // variances' high 16 bits are below 2^15
		nonzero := 0
		sceStoredBlocks(t, func(lo, hi int, _ []byte, tvs [][]float32) {
			v := vb[:hi-lo]
			nonzero += sceVariance(st.work, v, tvs)
			tensor.MagnitudeHistogram(h, v, 16)
		})
		st.nonzero[p], st.hists[p] = nonzero, h
	case sceLow:
		if st.counts[p] == 0 {
			return nil
		}
		h := make([]uint32, 1<<16)
		sceStoredBlocks(t, func(lo, hi int, _ []byte, tvs [][]float32) {
			v := vb[:hi-lo]
			sceVariance(st.work, v, tvs)
			sceLowHist(h, v, st.digit)
		})
		st.hists[p] = h
	case sceWeigh:
		if st.only >= 0 && p != st.only {
			return nil
		}
		var mask []uint64
		keep, all := 0, false
		if st.selecting {
			mask = make([]uint64, (len(t.Inputs[t.Base].BF16)/2+63)/64)
			keep = st.keep[p]
			all = keep > 0 && keep == st.counts[p]
		}
		sums := make([]float64, st.models)
		sceStoredBlocks(t, func(lo, hi int, _ []byte, tvs [][]float32) {
			if st.selecting {
				v := vb[:hi-lo]
				sceVariance(st.work, v, tvs)
				m := mask[lo/64 : (hi+63)/64]
				keep = sceMarkBlock(m, v, st.thr, keep, all)
				sceZero(m, tvs)
			}
			sceSquaresAll(st.work, sums, tvs)
		})
		if st.selecting {
			st.masks[p] = mask
		}
		st.sums[p] = sums
	}
	return nil
}

// windowStored is piece p's share of the window pass on stored inputs:
// block by block, tensor.SubVarianceBF16 gives the task vectors, their
// variances and smallest magnitudes from the stored bytes in one pass,
// then windowRest; vb is scratch for a block's variances.
func (st *sceState) windowStored(t *Tensors, vb []float32) {
	p := t.Piece
	baseRaw := t.Inputs[t.Base].BF16
	var raws [][]byte
	for i, in := range t.Inputs {
		if i != t.Base {
			raws = append(raws, in.BF16)
		}
	}
	n := len(baseRaw) / 2
	st.windowPiece(p, n)
	scratch := t.Scratch(len(raws) * sceStoredBlock)
	tvs, xs := make([][]float32, len(raws)), make([][]byte, len(raws))
	mins := make([]uint32, len(raws))
	for i := range mins {
		mins[i] = math.MaxUint32
	}
	nonzero, above := 0, 0
	for lo := 0; lo < n; lo += sceStoredBlock {
		hi := min(n, lo+sceStoredBlock)
		for i, x := range raws {
			tvs[i] = scratch[i*sceStoredBlock : i*sceStoredBlock+hi-lo]
			xs[i] = x[2*lo : 2*hi]
		}
		v := vb[:hi-lo]
		nonzero += tensor.SubVarianceBF16(v, tvs, xs, baseRaw[2*lo:2*hi], mins)
		above += st.windowRest(p, lo, v, tvs)
	}
	for i, m := range mins {
		st.minTau[p][i] = m + 1 // 0, none, when every τ is ±0
	}
	st.nonzero[p], st.aboves[p] = nonzero, above
}

func (st *sceState) EndPass(int) (more bool, err error) {
	st.passes++
	switch st.mode {
	case sceWindow:
		hit := false
		switch {
		case !st.setK():
			// Nothing is kept: every sum is 0.
			for p := range st.sums {
				st.sums[p] = make([]float64, st.models)
			}
			st.endWeights()
		case !st.windowThreshold():
			st.mode = sceHigh // the threshold is outside the window
		default:
			st.windowSums()
			hit = true
		}
		if hit {
			// Merge marks the kept positions from the pieces' bits
			// (windowMask), but for a piece the weights pass sums.
			if st.only >= 0 {
				st.dropPiece(st.only)
			}
		} else {
			st.dropInside()
		}
		st.win, st.aboves, st.chains, st.minTau = nil, nil, nil, nil
	case sceHigh:
		if !st.setK() {
			break
		}
		digit, above := descend(sumPieceHists(st.hists, 1<<15), 0, st.k)
		st.digit, st.above = uint32(digit), above
		for p, h := range st.hists {
			if h != nil {
				st.counts[p] = int(h[digit])
			}
		}
		clear(st.hists)
		if st.work == tensor.BF16 {
			// The variances are bfloat16 values: their low 16 bits are 0.
			st.setThreshold(st.digit << 16)
			break
		}
		st.mode = sceLow
	case sceLow:
		low, above := descend(sumPieceHists(st.hists, 1<<16), st.above, st.k)
		st.above = above
		for p, h := range st.hists {
			st.counts[p] = 0
			if h != nil {
				st.counts[p] = int(h[low])
			}
		}
		st.hists = nil
		st.setThreshold(st.digit<<16 | uint32(low))
	case sceWeigh:
		st.endWeights()
	}
	return st.mode != sceDone, nil
}

// endWeights adds the pieces' sums of squares in piece order and sets the
// weights.
func (st *sceState) endWeights() {
	ss := make([]float64, st.models)
	for _, sums := range st.sums {
		for i, s := range sums {
			ss[i] += s
		}
	}
	st.q, st.mode = sceWeights(st.work, ss, st.n), sceDone
}

// windowSums takes every piece's sums of squares from the window pass's
// chains once the threshold is set inside the window, and sets the
// weights; or, when the piece that keeps some but not all of its ties has
// a sum that may round, leaves the weights pass to sum that piece.
func (st *sceState) windowSums() {
	at := int(st.thr-st.lo) >> 16 // the threshold's bound; the next is above it
	for p, chains := range st.chains {
		sums := make([]float64, st.models)
		switch keep := st.keep[p]; {
		case keep == st.counts[p]:
			for i := range sums {
				sums[i] = chains[i][at]
			}
		case keep == 0:
			for i := range sums {
				sums[i] = chains[i][at+1]
			}
		case st.tiesExact(p):
			for i := range sums {
				sums[i] = chains[i][at+1]
			}
			in := st.inside[p]
			for w, a := range in.at {
				if keep == 0 {
					break
				}
				if int(a) == at {
					for i := range sums {
						sums[i] += float64(math.Float32frombits(uint32(in.sq[w*st.models+i]) << 16))
					}
					keep--
				}
			}
		default:
			st.only = p // the weights pass sums it
			continue
		}
		st.sums[p] = sums
	}
	if st.only < 0 {
		st.endWeights()
	}
}

// tiesExact reports whether no addition of piece p's chains of squares
// rounds, whatever positions of the window they skip: every square is a
// multiple of the ulp u of the smallest non-zero one, and those of the
// positions at or above the window (chain 0, whose own rounding the
// margin covers) sum to less than 2^52·u, so that every partial sum is a
// multiple of u below 2^53·u. The tests replace it to force the weights
// pass.
var sceTiesExact = func(st *sceState, p int) bool {
	for i, m := range st.minTau[p] {
		if m == 0 {
			continue // τ is 0 throughout: so are its sums
		}
		tau := math.Float32frombits(m)
		sq := math.Float32bits(tensor.RoundBF16(tau * tau))
		e := int(sq >> 23 & 0xff)
		if e == 0 || e == 0xff {
			return false // 0 or subnormal, infinite or NaN
		}
		u := math.Ldexp(1, e-127-7)
		if s := st.chains[p][i][0]; !(s*(1+0x1p-20) < 0x1p52*u) {
			return false
		}
	}
	return true
}

func (st *sceState) tiesExact(p int) bool { return sceTiesExact(st, p) }

// setK sets k from the pieces' non-zero variances; when it is 0 nothing
// is kept and setK returns false, with the weights pass next.
func (st *sceState) setK() bool {
	nonzero := 0
	for _, c := range st.nonzero {
		nonzero += c
	}
	// count_nonzero(var) * select_topk is a float32 tensor in torch.
	st.k = int(float32(float32(nonzero) * float32(st.topk)))
	if st.k == 0 {
		st.thr, st.mode = sceNothing, sceWeigh
		st.hists = nil
		return false
	}
	return true
}

// windowThreshold sets the threshold from the window pass's counts, as
// descend over the histograms would, and reports whether the window
// holds it.
func (st *sceState) windowThreshold() bool {
	above := 0
	for _, a := range st.aboves {
		above += a
	}
	wl := st.windowLen()
	for s := wl - 1; s >= 0 && above < st.k; s-- {
		c := 0
		for p := range st.aboves {
			c += int(st.win[p*wl+s])
		}
		if above+c >= st.k {
			st.digit, st.above = st.lo>>16+uint32(s), above
			for p := range st.counts {
				st.counts[p] = int(st.win[p*wl+s])
			}
			st.setThreshold(st.digit << 16)
			return true
		}
		above += c
	}
	return false
}

// sumPieceHists returns the sum of the pieces' histograms of size bins
// (nil for a piece without one), leaving them as they are.
func sumPieceHists(hists [][]uint32, size int) []int {
	total := make([]int, size)
	for _, h := range hists {
		for b, c := range h {
			total[b] += int(c)
		}
	}
	return total
}

// setThreshold sets the threshold bits, and hands the k − above variances
// equal to it that are kept to the pieces in index order.
func (st *sceState) setThreshold(thr uint32) {
	st.thr, st.mode = thr, sceWeigh
	ties := st.k - st.above
	for p, c := range st.counts {
		st.keep[p] = min(ties, c)
		ties -= st.keep[p]
	}
	st.hists = nil
}

// mergeSCE merges one piece with the tensor's sceState, or a whole tensor
// (cut into pieces as the executor would) without one.
func mergeSCE(t *Tensors, out []float32) error {
	st, ok := t.State.(*sceState)
	if !ok {
		if t.Stored {
			return fmt.Errorf("%s: internal error: sce on stored inputs without its analysis", t.Name)
		}
		return mergeSCEWhole(t, out)
	}
	return st.merge(t, out)
}

// merge merges one piece.
func (st *sceState) merge(t *Tensors, out []float32) error {
	if t.Stored {
		return st.mergeStored(t, out)
	}
	base, tvs := sceInputs(t)
	if len(tvs) == 0 {
		copy(out, base)
		return nil
	}
	if st.selecting {
		mask := st.masks[t.Piece]
		if st.bits != nil && st.bits[t.Piece] != nil {
			mask = st.windowMask(t.Piece)
			defer putSCEBits(mask)
		}
		if mask == nil {
			v := t.Scratch(len(base))
			sceVariance(st.work, v, tvs)
			mask = make([]uint64, (len(v)+63)/64)
			sceMark(mask, v, st.thr, st.keep[t.Piece], st.counts[t.Piece])
		}
		sceZero(mask, tvs)
	} else if st.topk <= 0 {
		for _, tv := range tvs {
			clear(tv)
		}
	}
	sceErase(st.work, out, base, tvs, st.q)
	return nil
}

// mergeStored is merge on stored inputs: with the kept positions known
// (or all kept), tensor.EraseMergeBF16 from the stored bytes; otherwise
// block by block, marking each block's kept positions from its variances.
func (st *sceState) mergeStored(t *Tensors, out []float32) error {
	if st.models == 0 {
		return tensor.Decode(out, t.Inputs[t.Base].BF16, tensor.BF16)
	}
	var base, v [sceStoredBlock]float32
	var marks [sceStoredBlock / 64]uint64
	var err error
	var mask []uint64
	keep, all := 0, false
	if st.selecting {
		mask, keep = st.masks[t.Piece], st.keep[t.Piece]
		all = keep > 0 && keep == st.counts[t.Piece]
		if st.bits != nil && st.bits[t.Piece] != nil {
			mask = st.windowMask(t.Piece)
			defer putSCEBits(mask)
		}
	}
	if mask != nil || st.topk >= 1 {
		// The kept positions are known (or all are kept): one kernel
		// from the stored bytes.
		var raws [][]byte
		for i, in := range t.Inputs {
			if i != t.Base {
				raws = append(raws, in.BF16)
			}
		}
		tensor.EraseMergeBF16(out, raws, t.Inputs[t.Base].BF16, mask, st.q, 1e-6)
		return nil
	}
	sceStoredBlocks(t, func(lo, hi int, b []byte, tvs [][]float32) {
		if err != nil {
			return
		}
		switch {
		case st.selecting && mask != nil:
			sceZero(mask[lo/64:(hi+63)/64], tvs)
		case st.selecting:
			// Mark the block's kept positions, as the weights pass would.
			sceVariance(st.work, v[:hi-lo], tvs)
			m := marks[:(hi-lo+63)/64]
			keep = sceMarkBlock(m, v[:hi-lo], st.thr, keep, all)
			sceZero(m, tvs)
		case st.topk <= 0:
			for _, tv := range tvs {
				clear(tv)
			}
		}
		if err = tensor.Decode(base[:hi-lo], b, tensor.BF16); err == nil {
			sceErase(st.work, out[lo:hi], base[:hi-lo], tvs, st.q)
		}
	})
	return err
}

// mergeSCEWhole runs sceState's passes over a tensor held whole, in
// pieces of chunkElements, and merges it.
func mergeSCEWhole(t *Tensors, out []float32) error {
	n := len(out)
	c := min(n, int(chunkElements))
	pieces := int(numPieces(int64(n), int64(c)))
	st, err := newSCEState(t, int64(n), pieces)
	if err != nil {
		return err
	}
	v := make([]float32, c)
	at := func(p int) *Tensors {
		pt := *t
		lo, hi := p*c, min(n, (p+1)*c)
		pt.Inputs = make([]Input, len(t.Inputs))
		for i, in := range t.Inputs {
			pt.Inputs[i] = in
			pt.Inputs[i].Data = in.Data[lo:hi]
		}
		pt.Offset, pt.Piece, pt.Pieces, pt.Worker, pt.Workers = int64(lo), p, pieces, 0, 1
		pt.State = st
		return &pt
	}
	for pass := 0; st.mode != sceDone; pass++ {
		for p := range pieces {
			if err := st.piece(at(p), v[:min(c, n-p*c)]); err != nil {
				return err
			}
		}
		if _, err := st.EndPass(pass); err != nil {
			return err
		}
	}
	for p := range pieces {
		lo, hi := p*c, min(n, (p+1)*c)
		if err := st.merge(at(p), out[lo:hi]); err != nil {
			return err
		}
	}
	if pieces == 0 {
		base, _ := sceInputs(t)
		copy(out, base)
	}
	return nil
}

// sceVariance writes each position's population variance across the task
// vectors, rounded to the working dtype, into v and returns how many are
// non-zero.
func sceVariance(work tensor.DType, v []float32, tvs [][]float32) (nonzero int) {
	return tensor.Variance(work, v, tvs)
}

// sceLowHist counts the low 16 bits of the variances in v whose high 16
// bits are digit into h.
func sceLowHist(h []uint32, v []float32, digit uint32) {
	for _, a := range v {
		if u := magnitudeBits(a); u>>16 == digit {
			h[u&0xffff]++
		}
	}
}

// sceMark sets the bits of mask at the positions the selection keeps,
// and clears the others: variances whose bits are above thr, and the
// first keep of the ties of those equal to it.
func sceMark(mask []uint64, v []float32, thr uint32, keep, ties int) {
	sceMarkBlock(mask, v, thr, keep, keep > 0 && keep == ties) // one block: the whole piece
}

// sceMarkBlock is sceMark on one block of a piece, whose blocks are
// marked in index order: keep is how many of the piece's ties are still
// to be kept, all whether the piece keeps every tie. It returns how many
// are left to keep after the block.
func sceMarkBlock(mask []uint64, v []float32, thr uint32, keep int, all bool) int {
	if all {
		tensor.MarkAbove(mask, v, thr-1) // thr > 0 when any tie is kept
		return keep
	}
	tensor.MarkAbove(mask, v, thr)
	for j := 0; keep > 0 && j < len(v); j++ {
		if magnitudeBits(v[j]) == thr {
			mask[j>>6] |= 1 << (j & 63)
			keep--
		}
	}
	return keep
}

// sceZero zeroes the task vectors where mask has no bit set.
func sceZero(mask []uint64, tvs [][]float32) {
	for _, tv := range tvs {
		tensor.KeepBits(tv, mask)
	}
}

// sceSquares returns ss + Σ round(τ_j²), accumulated in float64 in order.
func sceSquares(work tensor.DType, ss float64, tv []float32) float64 {
	if work == tensor.BF16 {
		for _, a := range tv {
			ss += float64(tensor.RoundBF16(a * a))
		}
		return ss
	}
	for _, a := range tv {
		ss += float64(roundTo(work, a*a))
	}
	return ss
}

// sceSquaresAll adds Σ round(τ_j²) of each task vector tvs[i] to sums[i],
// as sceSquares does. Each sum is one chain of dependent float64 additions
// whose latency bounds sceSquares; in bfloat16 tensor.RoundedDotsBF16
// runs the chains of all the task vectors side by side, in the same order
// each, so that they overlap.
func sceSquaresAll(work tensor.DType, sums []float64, tvs [][]float32) {
	if work != tensor.BF16 {
		for i, tv := range tvs {
			sums[i] = sceSquares(work, sums[i], tv)
		}
		return
	}
	pairs := sceSelf[:min(len(tvs), len(sceSelf))]
	if len(tvs) > len(sceSelf) {
		pairs = make([][2]int, len(tvs))
		for i := range pairs {
			pairs[i] = [2]int{i, i}
		}
	}
	tensor.RoundedDotsBF16(sums, tvs, pairs)
}

// sceSelf pairs every task vector with itself, for RoundedDotsBF16.
var sceSelf = func() (p [64][2]int) {
	for i := range p {
		p[i] = [2]int{i, i}
	}
	return p
}()

// sceWeights returns the matrix-level weights q_i = mean(τ_i²)/Σq from
// the sums of squares ss over n elements.
func sceWeights(work tensor.DType, ss []float64, n int64) []float32 {
	r := func(v float32) float32 { return roundTo(work, v) }
	q := make([]float32, len(ss))
	var sum float32
	for i, s := range ss {
		q[i] = r(float32(s / float64(n)))
		sum += q[i]
	}
	total := float64(r(sum))
	for i := range q {
		if math.Abs(total) < 1e-6 {
			q[i] = r(1 / float32(len(q)))
		} else {
			q[i] = r(q[i] / float32(total))
		}
	}
	return q
}

// sceBlock is the block sceErase works in: its sums stay in the L1 cache
// from one kernel to the next.
const sceBlock = 1024

// sceErase writes B + Σ_i q_i·M_i·τ_i / max(Σ_i q_i·M_i, 1e-6) into out,
// with M_i the entries of τ_i that are non-zero and have the sign of
// Σ_i τ_i (a sum ≥ 0 elects +), every step rounded to the working dtype:
//
//	σ = r(Σ_i τ_i)    (summed in float32 in model order)
//	num = Σ_i [M_i] r(τ_i·q_i),  den = Σ_i [M_i] q_i
//	R = r(B + r(r(num)/max(r(den), 1e-6)))
func sceErase(work tensor.DType, out, base []float32, tvs [][]float32, q []float32) {
	var sum, num, den [sceBlock]float32
	for lo := 0; lo < len(out); lo += sceBlock {
		hi := min(len(out), lo+sceBlock)
		s, nu, de := sum[:hi-lo], num[:hi-lo], den[:hi-lo]
		clear(s)
		clear(nu)
		clear(de)
		for _, tv := range tvs {
			tensor.Add(s, tv[lo:hi])
		}
		tensor.Round(work, s)
		for i, tv := range tvs {
			tensor.AddElectedRound(work, nu, de, tv[lo:hi], s, q[i])
		}
		tensor.DivMaxAddRound(work, out[lo:hi], base[lo:hi], nu, de, 1e-6)
	}
}
