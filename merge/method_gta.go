package merge

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gomerge/gomerge/tensor"
)

// The generalised task-arithmetic family (mergekit's
// generalized_task_arithmetic.py). With base B, inputs X_i and weights w_i:
//
//	δ_i = sparsify(X_i − B, density_i)
//	Ŵ_i = w_i·δ_i
//	with sign consensus:  σ = sign(Σ_i Ŵ_i) (0 counts as +),
//	                      M_i = [sign(Ŵ_i) = σ],
//	                      mixed = Σ_i M_i·Ŵ_i, div = Σ_i M_i·w_i (0 → 1)
//	without:              mixed = Σ_i Ŵ_i,     div = Σ_i w_i (|div| < 1e-8 → 1)
//	if normalize: mixed /= div;  mixed *= lambda
//	R = B + mixed
//
// Every step is rounded to the working dtype, as in mergekit.

func gtaParams(normalize, rescale float64) []Param {
	return []Param{
		{Name: "normalize", Default: normalize},
		{Name: "rescale", Default: rescale},
		{Name: "lambda", Default: 1},
		{Name: "int8_mask", Default: 0},
	}
}

var gtaPerModel = []Param{{Name: "weight", Required: true}, {Name: "density", Default: 1}}

// TaskArithmetic is mergekit's "task_arithmetic" (Ilharco et al.,
// "Editing Models with Task Arithmetic", arXiv:2212.04089): the weighted
// sum of task vectors added to the base, without pruning or consensus.
var TaskArithmetic = &Method{
	Name:        "task_arithmetic",
	Pretty:      "Task Arithmetic",
	URL:         "https://arxiv.org/abs/2212.04089",
	Base:        BaseRequired,
	Global:      gtaParams(0, 0),
	PerModel:    gtaPerModel,
	MinInputs:   1,
	EmbedRule:   EmbedTruncateToBase,
	Merge:       gta(sparsifyMagnitude, false),
	TaskVectors: true,
	Elementwise: denseOnly,
	Analyze:     analyzeMagnitude,
	WantsSample: true,
	CanAnalyze:  canAnalyzeMagnitude,
	StoredBF16:  true,
}

// TIES is mergekit's "ties" (Yadav et al., "TIES-Merging",
// arXiv:2306.01708): task vectors pruned to their density·n largest
// magnitudes over the whole tensor, signs elected by the weighted sum, and
// the agreeing entries averaged by their weights (normalize defaults to
// true). int8_mask only changes mergekit's mask storage and has no
// numerical effect.
var TIES = &Method{
	Name:        "ties",
	Pretty:      "TIES",
	URL:         "https://arxiv.org/abs/2306.01708",
	Base:        BaseRequired,
	Global:      gtaParams(1, 0),
	PerModel:    gtaPerModel,
	MinInputs:   1,
	EmbedRule:   EmbedTruncateToBase,
	Merge:       gta(sparsifyMagnitude, true),
	TaskVectors: true,
	Elementwise: denseOnly,
	Analyze:     analyzeMagnitude,
	WantsSample: true,
	CanAnalyze:  canAnalyzeMagnitude,
	StoredBF16:  true,
}

func init() {
	Register(TaskArithmetic)
	Register(TIES)
}

// sparsifier prunes task vector i of t in place.
type sparsifier func(t *Tensors, i int, delta []float32) error

func gta(sparsify sparsifier, consensus bool) func(*Tensors, []float32) error {
	return func(t *Tensors, out []float32) error {
		if t.Base < 0 {
			return fmt.Errorf("%s: base model is not among the inputs", t.Name)
		}
		if t.Stored {
			return gtaStored(t, out, consensus)
		}
		base := t.Inputs[t.Base].Data
		var deltas [][]float32
		var weights []float32
		for i, in := range t.Inputs {
			if i == t.Base {
				continue
			}
			d := in.Data // a task vector (TaskVectors), pruned in place
			if err := sparsify(t, i, d); err != nil {
				return err
			}
			deltas = append(deltas, d)
			weights = append(weights, t.w(i, "weight"))
		}
		if len(deltas) == 0 {
			copy(out, base)
			return nil
		}
		normalize, lambda := t.Global["normalize"] != 0, float32(t.Global["lambda"])
		if be := t.be(); be != tensor.CPU {
			// Another backend (a GPU) takes whole pieces.
			var err error
			if consensus {
				err = t.be().SignConsensus(t.Work, out, deltas, weights, normalize)
			} else {
				err = sumDeltas(t.be(), t.Work, out, deltas, weights, normalize)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			if lambda != 1 {
				scaleRound(t.Work, out, lambda)
			}
			tensor.Add(out, base)
			t.roundOut(out)
			return nil
		}
		// The steps after pruning, block by block: each block's weighted
		// task vectors, their sum and the result stay in the L1 cache from
		// one kernel to the next. Every step is element-wise, so the
		// blocks give the bytes of whole passes.
		parallelUnits(len(out), 1, func(lo, hi int) {
			var div, sign [consensusBlock]float32
			blk := make([][]float32, len(deltas))
			for ; lo < hi; lo += consensusBlock {
				end := min(hi, lo+consensusBlock)
				for i, d := range deltas {
					blk[i] = d[lo:end]
				}
				gtaBlock(t, out[lo:end], div[:end-lo], sign[:end-lo], blk, weights, base[lo:end], consensus)
			}
		})
		return nil
	}
}

// gtaBlock writes the merge of one block of pruned task vectors blk (at
// most consensusBlock elements, weighted in place) over base into out;
// div and sign are scratch of len(out).
func gtaBlock(t *Tensors, out, div, sign []float32, blk [][]float32, weights, base []float32, consensus bool) {
	normalize, lambda := t.Global["normalize"] != 0, float32(t.Global["lambda"])
	if consensus {
		for i, d := range blk {
			scaleRound(t.Work, d, weights[i])
		}
		consensusBlockRange(t.Work, out, div, sign, blk, weights, normalize)
	} else {
		sumDeltasCPU(t.Work, out, blk, weights, normalize) // weighs them as it adds
	}
	if lambda != 1 {
		scaleRound(t.Work, out, lambda)
	}
	tensor.Add(out, base)
	t.roundOut(out)
}

// prunerState is the Analysis of a sparsifier that can prune stored
// inputs (Tensors.Stored) block by block.
type prunerState interface {
	pruner(t *Tensors, i int) (func(d []float32), error)
}

// gtaStored is gta on stored bfloat16 inputs: block by block, each task
// vector is computed from the stored bytes, pruned, weighted and merged
// while it stays in the L1 cache, so that every input byte is read once.
// The pieces of the tensor are the parallel units.
func gtaStored(t *Tensors, out []float32, consensus bool) error {
	baseRaw := t.Inputs[t.Base].BF16
	var (
		raws    [][]byte
		prune   []func([]float32)
		weights []float32
		terms   []termTerm
	)
	mins, _ := t.State.(keepMinState)
	windows, _ := t.State.(termState)
	for i, in := range t.Inputs {
		if i == t.Base {
			continue
		}
		var p func([]float32)
		if in.Params["density"] < 1 {
			ps, ok := t.State.(prunerState)
			if !ok {
				return fmt.Errorf("%s: internal error: stored inputs without a block pruner", t.Name)
			}
			var err error
			if p, err = ps.pruner(t, i); err != nil {
				return err
			}
		}
		var term termTerm
		switch {
		case p == nil:
			term = keepMinTerm(0) // min 0 keeps everything
		case mins != nil:
			if m, ok := mins.keepMin(t, i); ok {
				term = keepMinTerm(m)
			}
		case windows != nil:
			term = windows.term(t, i)
		}
		raws = append(raws, in.BF16)
		prune = append(prune, p)
		weights = append(weights, t.w(i, "weight"))
		terms = append(terms, term)
	}
	if len(raws) == 0 {
		return tensor.Decode(out, baseRaw, tensor.BF16)
	}
	var base, div, sign [consensusBlock]float32
	scratch := t.Scratch(len(raws) * consensusBlock)
	blk := make([][]float32, len(raws))
	fused := consensus && t.Work == tensor.BF16
	normalize, lambda := t.Global["normalize"] != 0, float32(t.Global["lambda"])
	for lo := 0; lo < len(out); lo += consensusBlock {
		end := min(len(out), lo+consensusBlock)
		b := baseRaw[2*lo : 2*end]
		for i, x := range raws {
			d := scratch[i*consensusBlock : i*consensusBlock+end-lo]
			blk[i] = d
			first, last := i == 0, i == len(raws)-1
			if fused && terms[i] != nil {
				terms[i](d, sign[:end-lo], x[2*lo:2*end], b, weights[i], first, last)
				continue
			}
			tensor.SubBF16Bytes(d, x[2*lo:2*end], b)
			if prune[i] != nil {
				prune[i](d)
			}
			if fused {
				weighAndSum(d, sign[:end-lo], weights[i], first, last)
			}
		}
		if fused && lambda == 1 {
			// The weighted task vectors and the sum that elects the
			// signs are done: the rest is one pass.
			tensor.DisjointMergeBF16(out[lo:end], blk, weights, sign[:end-lo], b, normalize)
			t.roundOut(out[lo:end])
			continue
		}
		if err := tensor.Decode(base[:end-lo], b, tensor.BF16); err != nil {
			return err
		}
		if fused {
			agreeBlock(t, out[lo:end], div[:end-lo], sign[:end-lo], blk, weights, base[:end-lo])
			continue
		}
		gtaBlock(t, out[lo:end], div[:end-lo], sign[:end-lo], blk, weights, base[:end-lo], consensus)
	}
	return nil
}

// keepMinState is the Analysis of a sparsifier whose pruning of input i on
// the current piece may keep exactly the entries whose magnitude bits are
// at least min (ok), so that tensor.SubPruneScaleBF16 does it.
type keepMinState interface {
	keepMin(t *Tensors, i int) (min uint32, ok bool)
}

// termState is the Analysis of a sparsifier that makes input i's whole
// term on the current piece in one kernel: term, when not nil, is called
// on its blocks in index order and does what tensor.SubBF16Bytes, the
// pruner and weighAndSum do.
type termState interface {
	term(t *Tensors, i int) termTerm
}

// termTerm makes one input's weighted term on a block of the piece in one
// kernel, as tensor.SubPruneScaleBF16 does: dst = w·prune(a − b), added
// to sum (taken as zeros when first, rounded to bfloat16 when last).
// gtaStored makes each input's from the sparsifier's Analysis
// (keepMinState, termState); without one, the term is
// made in separate steps.
type termTerm func(dst, sum []float32, a, b []byte, w float32, first, last bool)

// keepMinTerm keeps the entries whose magnitude bits are at least min.
func keepMinTerm(min uint32) termTerm {
	return func(dst, sum []float32, a, b []byte, w float32, first, last bool) {
		tensor.SubPruneScaleBF16(dst, sum, a, b, min, w, first, last)
	}
}

// weighAndSum is the rest of tensor.SubPruneScaleBF16 for a task vector d
// pruned in separate steps: d weighted in place and added to sign.
func weighAndSum(d, sign []float32, w float32, first, last bool) {
	tensor.ScaleRound(tensor.BF16, d, w)
	if first {
		clear(sign)
	}
	tensor.Add(sign, d)
	if last {
		tensor.Round(tensor.BF16, sign)
	}
}

// agreeBlock is gtaBlock with sign consensus once the task vectors of blk
// are weighted and their rounded sum is in sign.
func agreeBlock(t *Tensors, out, div, sign []float32, blk [][]float32, weights, base []float32) {
	normalize, lambda := t.Global["normalize"] != 0, float32(t.Global["lambda"])
	addAgreeing(t.Work, out, div, sign, blk, weights, normalize)
	if lambda != 1 {
		scaleRound(t.Work, out, lambda)
	}
	tensor.Add(out, base)
	t.roundOut(out)
}

func scaleRound(work tensor.DType, x []float32, a float32) {
	tensor.ScaleRound(work, x, a)
}

// sumDeltas writes Σ Ŵ_i = Σ round(w_i·δ_i), divided by Σ w_i when
// normalize (by 1 when that sum rounds below 1e-8), into out; deltas are
// not weighted yet.
func sumDeltas(be tensor.Backend, work tensor.DType, out []float32, deltas [][]float32, weights []float32, normalize bool) error {
	var wsum float32
	for _, w := range weights {
		wsum += w
	}
	div := tensor.RoundScalar(work, wsum)
	if math.Abs(float64(div)) < 1e-8 {
		div = 1
	}
	return be.WeightedSum(work, out, deltas, weights, normalize, div)
}

// sumDeltasCPU writes Σ Ŵ_i = Σ round(w_i·δ_i), divided by Σ w_i when
// normalize, into out on the CPU; deltas are not weighted yet. It gives
// the bytes of tensor.CPU's WeightedSum on a block.
func sumDeltasCPU(work tensor.DType, out []float32, deltas [][]float32, weights []float32, normalize bool) {
	clear(out)
	var wsum float32
	for i, d := range deltas {
		tensor.AxpyRound(work, out, weights[i], d)
		wsum += weights[i]
	}
	tensor.Round(work, out)
	if !normalize {
		return
	}
	div := tensor.RoundScalar(work, wsum)
	if math.Abs(float64(div)) < 1e-8 {
		div = 1
	}
	tensor.DivScalarRound(work, out, div)
}

// consensusBlock is the block the steps after pruning run in.
const consensusBlock = 2048

// consensusBlockRange writes the TIES disjoint merge of the weighted
// deltas (blocks of at most consensusBlock elements) into out: per
// element, the entries whose sign agrees with the sign of the sum are
// added, and divided by the sum of their weights when normalize. div and
// sign are scratch of len(out): the sum's sign has a buffer of its own, so
// that the agreeing entries are added into out directly.
func consensusBlockRange(work tensor.DType, out, div, sign []float32, deltas [][]float32, weights []float32, normalize bool) {
	clear(sign)
	for _, d := range deltas {
		tensor.Add(sign, d)
	}
	tensor.Round(work, sign)
	addAgreeing(work, out, div, sign, deltas, weights, normalize)
}

// addAgreeing is consensusBlockRange once the rounded sum of the deltas
// is in sign.
func addAgreeing(work tensor.DType, out, div, sign []float32, deltas [][]float32, weights []float32, normalize bool) {
	clear(out)
	clear(div)
	for i, d := range deltas {
		// d counts where it is non-zero and has the elected sign (a sum
		// ≥ 0 elects +).
		tensor.AddAgreeing(out, div, d, sign, weights[i])
	}
	tensor.Round(work, out)
	if normalize {
		tensor.Round(work, div)
		tensor.DivNonZeroRound(work, out, div)
	}
}

// parallelUnits runs fn over units [0, n) of size elements each, split
// into contiguous ranges, one per CPU, when there are enough elements to
// pay for the goroutines. fn must treat units independently.
func parallelUnits(n, size int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if n*size < 1<<18 || workers < 2 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += step {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, min(n, lo+step))
		}()
	}
	wg.Wait()
}

// taskVectors returns the base tensor and the task vectors X_i − B of the
// other inputs, in input order; ok is false when there is no base.
func taskVectors(t *Tensors) (base []float32, tvs [][]float32, ok bool) {
	if t.Base < 0 {
		return nil, nil, false
	}
	base = t.Inputs[t.Base].Data
	for i, in := range t.Inputs {
		if i != t.Base {
			tvs = append(tvs, subRound(t, in.Data, base))
		}
	}
	return base, tvs, true
}

// subRound returns x − base rounded to the working dtype: a task vector.
func subRound(t *Tensors, x, base []float32) []float32 {
	d := t.Scratch(len(x))
	tensor.SubRound(t.Work, d, x, base)
	return d
}

// normRound is torch.norm of x (accumulated in float64 here) rounded to
// the working dtype.
func normRound(work tensor.DType, x []float32) float32 {
	return tensor.RoundScalar(work, float32(math.Sqrt(tensor.SumSquares(x))))
}

// roundTo is tensor.RoundScalar with the float32 case inlined, so that the
// methods' per-element rounding costs nothing when it has nothing to do.
func roundTo(work tensor.DType, v float32) float32 {
	switch work {
	case tensor.F32:
		return float32(v) // an explicit conversion: no fused multiply-add across it
	case tensor.BF16:
		return tensor.RoundBF16(v)
	}
	return tensor.RoundScalar(work, v)
}
