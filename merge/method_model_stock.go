package merge

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// ModelStock is mergekit's "model_stock" (Jang et al., "Model Stock: All
// we need is just a few fine-tuned models", arXiv:2403.19522): the
// average of N ≥ 2 fine-tuned models is pulled towards the base by a
// ratio derived from the angle between their task vectors o_i = X_i − B:
//
//	c = mean over pairs i<j of clamp(o_i·o_j / max(‖o_i‖·‖o_j‖, 1e-6), −1, 1)
//	t = N·c / (1 + (N−1)·c)
//	R = t·mean_i(X_i) + (1 − t)·B
//
// With filter_wise, c and t are computed per row (per vector along the
// last dimension; a vector is one row) instead of over the whole tensor.
// As in mergekit there is no guard against 1 + (N−1)·c = 0. A tensor only
// the base has is returned as is; fewer than three inputs is an error
// (the planner drops optional tensors in that case).
var ModelStock = &Method{
	Name:      "model_stock",
	Pretty:    "Model Stock",
	URL:       "https://arxiv.org/abs/2403.19522",
	Base:      BaseRequired,
	Global:    []Param{{Name: "filter_wise", Default: 0}},
	MinInputs: 1,
	EmbedRule: EmbedCommon,
	Merge:     mergeModelStock,
	PlanTask:  planModelStock,
	Analyze:   analyzeModelStock,
	PieceUnit: stockUnit,
	// The task vectors of a block are computed from the stored bytes
	// in each pass (stockStoredSegments).
	StoredBF16: true,
}

// planModelStock leaves out an optional tensor that fewer than three
// models have (mergekit discards it) and fails on a required one.
func planModelStock(c *TaskContext) (bool, error) {
	n := len(c.Task.Inputs)
	if n >= 3 || n == 1 && c.Task.Base == 0 {
		return false, nil
	}
	if c.Optional {
		return true, nil
	}
	return false, fmt.Errorf("model_stock needs at least 3 models (the base and two others) for %s, found %d", c.Task.Name, n)
}

func init() { Register(ModelStock) }

// stockStats are the sums model_stock's coefficients come from, over one
// block of a row: Σ o_i² per task vector and Σ round(o_i·o_k) per pair
// (i < k, in order), accumulated in float64.
type stockStats struct {
	squares []float64
	dots    []float64
}

// blockStats computes the sums over one block. In bfloat16 the pairs' dot
// products are summed by tensor.RoundedDotsBF16Exact, each with the bits
// of the index-order sum that the loop for the other dtypes computes.
func blockStats(work tensor.DType, offsets [][]float32, a, b int) stockStats {
	st := stockStats{squares: make([]float64, len(offsets))}
	for i, o := range offsets {
		st.squares[i] = tensor.SumSquares(o[a:b])
	}
	if work == tensor.BF16 {
		block := make([][]float32, len(offsets))
		for i, o := range offsets {
			block[i] = o[a:b]
		}
		pairs := stockPairs(len(offsets))
		st.dots = make([]float64, len(pairs))
		tensor.RoundedDotsBF16Exact(st.dots, block, pairs)
		return st
	}
	for i := range offsets {
		for k := i + 1; k < len(offsets); k++ {
			var s float64
			x, y := offsets[i][a:b], offsets[k][a:b]
			y = y[:len(x)]
			for j := range x {
				s += float64(roundTo(work, x[j]*y[j]))
			}
			st.dots = append(st.dots, s)
		}
	}
	return st
}

// stockPairs returns the pairs i < k of m task vectors, in order.
func stockPairs(m int) [][2]int {
	pairs := make([][2]int, 0, m*(m-1)/2)
	for i := range m {
		for k := i + 1; k < m; k++ {
			pairs = append(pairs, [2]int{i, k})
		}
	}
	return pairs
}

// stockBlock is the block whose sums are added up, in order, for a row
// longer than it: the executor's piece, so that a tensor merged whole and
// one streamed in pieces add the same partial sums in the same order.
func stockBlock() int { return int(chunkElements) }

// stockCoefficients turns a row's block sums, added in block order, into
// the weights of the models' mean (ratio) and of the base (keep).
func stockCoefficients(work tensor.DType, blocks []stockStats, models int) (ratio, keep float32) {
	r := func(v float32) float32 { return roundTo(work, v) }
	total := stockStats{squares: make([]float64, len(blocks[0].squares)), dots: make([]float64, len(blocks[0].dots))}
	for _, b := range blocks {
		for i, v := range b.squares {
			total.squares[i] += v
		}
		for i, v := range b.dots {
			total.dots[i] += v
		}
	}
	norms := make([]float32, len(total.squares))
	for i, ss := range total.squares {
		norms[i] = tensor.RoundScalar(work, float32(math.Sqrt(ss)))
	}
	var sum float32
	pair := 0
	for i := range norms {
		for k := i + 1; k < len(norms); k++ {
			den := max(r(norms[i]*norms[k]), 1e-6)
			sum += min(max(r(r(float32(total.dots[pair]))/den), -1), 1)
			pair++
		}
	}
	n := float32(models)
	c := r(r(sum) / float32(pair))
	ratio = r(r(n*c) / r(1+r((n-1)*c)))
	return ratio, r(1 - ratio)
}

// stockMean writes the mean of the models' tensors into out: summed one by
// one with rounding, then divided, as mergekit does.
func stockMean(t *Tensors, out []float32, ws [][]float32) {
	copy(out, ws[0])
	for _, w := range ws[1:] {
		tensor.Add(out, w)
		t.round(out)
	}
	tensor.DivScalarRound(t.Work, out, float32(len(ws)))
}

// stockBlend writes ratio·out + keep·base, each product and the sum
// rounded, into out.
func stockBlend(work tensor.DType, out, base []float32, ratio, keep float32) {
	tensor.ScaleRound(work, out, ratio)
	tensor.AxpyRound(work, out, keep, base)
	tensor.Round(work, out)
}

// stockAnalysis streams model_stock. Whole-tensor: each piece's sums are
// one block of the single row, and EndPass turns them into one pair of
// coefficients. filter_wise: pieces hold whole rows (stockUnit), and each
// piece works out the coefficients of its rows.
type stockAnalysis struct {
	blocks      []stockStats
	work        tensor.DType
	models      int
	ratio, keep float32
	// cols is the row length with filter_wise, else 0; rows holds each
	// row's (ratio, keep).
	cols int
	rows [][2]float32
}

func analyzeModelStock(t *Tensors) (Analysis, error) {
	a := &stockAnalysis{work: t.Work, models: len(t.Inputs) - 1}
	if cols := stockUnit(t); cols > 0 {
		n := numElements(t.Shape)
		a.cols, a.rows = int(cols), make([][2]float32, (n+cols-1)/cols)
		return a, nil
	}
	a.blocks = make([]stockStats, t.Pieces)
	return a, nil
}

// stockUnit is model_stock's PieceUnit: with filter_wise a row (a vector
// along the last dimension), else none.
func stockUnit(t *Tensors) int64 {
	if t.Global["filter_wise"] == 0 || len(t.Shape) == 0 || numElements(t.Shape) == 0 {
		return 0
	}
	return t.Shape[len(t.Shape)-1]
}

func (a *stockAnalysis) Piece(t *Tensors) error {
	if t.Stored {
		return a.pieceStored(t)
	}
	base, offsets, err := stockOffsets(t)
	if err != nil || base == nil {
		return err
	}
	if a.cols == 0 {
		a.blocks[t.Piece] = blockStats(t.Work, offsets, 0, len(base))
		return nil
	}
	first := int(t.Offset) / a.cols
	for r := 0; r*a.cols < len(base); r++ {
		ratio, keep := stockRow(t.Work, offsets, r*a.cols, min(len(base), (r+1)*a.cols))
		a.rows[first+r] = [2]float32{ratio, keep}
	}
	return nil
}

// stockRow returns the coefficients of the row [a, b) of the task
// vectors, summed in blocks of stockBlock from the row's start.
func stockRow(work tensor.DType, offsets [][]float32, a, b int) (ratio, keep float32) {
	block := stockBlock()
	blocks := make([]stockStats, (b-a+block-1)/block)
	for k := range blocks {
		blocks[k] = blockStats(work, offsets, a+k*block, min(b, a+(k+1)*block))
	}
	return stockCoefficients(work, blocks, len(offsets))
}

func (a *stockAnalysis) EndPass(int) (bool, error) {
	if a.cols == 0 && len(a.blocks) > 0 && a.blocks[0].squares != nil {
		a.ratio, a.keep = stockCoefficients(a.work, a.blocks, a.models)
	}
	return false, nil
}

// stockOffsets checks the inputs and returns the base and the task
// vectors; base is nil when the tensor is the base's alone.
func stockOffsets(t *Tensors) (base []float32, offsets [][]float32, err error) {
	if len(t.Inputs) == 1 && t.Base == 0 {
		return nil, nil, nil
	}
	if t.Base < 0 {
		return nil, nil, fmt.Errorf("%s: model_stock: base model tensor not found", t.Name)
	}
	if len(t.Inputs) < 3 {
		return nil, nil, fmt.Errorf("%s: model_stock requires at least 3 models (base plus two or more others), got %d", t.Name, len(t.Inputs))
	}
	base = t.Inputs[t.Base].Data
	for i, in := range t.Inputs {
		if i != t.Base {
			offsets = append(offsets, subRound(t, in.Data, base))
		}
	}
	return base, offsets, nil
}

// others returns the inputs but the base.
func others(t *Tensors) [][]float32 {
	var ws [][]float32
	for i, in := range t.Inputs {
		if i != t.Base {
			ws = append(ws, in.Data)
		}
	}
	return ws
}

func mergeModelStock(t *Tensors, out []float32) error {
	if t.Stored {
		an, ok := t.State.(*stockAnalysis)
		if !ok {
			return fmt.Errorf("%s: internal error: model_stock on stored inputs without its analysis", t.Name)
		}
		return an.mergeStored(t, out)
	}
	if len(t.Inputs) == 1 && t.Base == 0 {
		copy(out, t.Inputs[0].Data)
		return nil
	}
	if an, ok := t.State.(*stockAnalysis); ok {
		// A piece of a streamed tensor: the coefficients are known.
		if t.Base < 0 {
			return fmt.Errorf("%s: model_stock: base model tensor not found", t.Name)
		}
		stockMean(t, out, others(t))
		base := t.Inputs[t.Base].Data
		if an.cols == 0 {
			stockBlend(t.Work, out, base, an.ratio, an.keep)
			return nil
		}
		first := int(t.Offset) / an.cols
		for r := 0; r*an.cols < len(out); r++ {
			a, b := r*an.cols, min(len(out), (r+1)*an.cols)
			c := an.rows[first+r]
			stockBlend(t.Work, out[a:b], base[a:b], c[0], c[1])
		}
		return nil
	}
	base, offsets, err := stockOffsets(t)
	if err != nil {
		return err
	}
	n := len(out)
	cols := n
	if t.Global["filter_wise"] != 0 && len(t.Shape) >= 1 && n > 0 {
		cols = int(t.Shape[len(t.Shape)-1])
	}
	stockMean(t, out, others(t))
	rows := (n + cols - 1) / max(cols, 1)
	if n == 0 {
		rows = 0
	}
	// Filter-wise rows are independent and run in parallel; a single row
	// (the whole tensor) sums its blocks in parallel instead.
	parallelUnits(rows, cols, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			a, b := row*cols, min(n, (row+1)*cols)
			block := stockBlock()
			blocks := make([]stockStats, (b-a+block-1)/block)
			run := func(k0, k1 int) {
				for k := k0; k < k1; k++ {
					blocks[k] = blockStats(t.Work, offsets, a+k*block, min(b, a+(k+1)*block))
				}
			}
			if rows == 1 {
				parallelUnits(len(blocks), block, run)
			} else {
				run(0, len(blocks))
			}
			ratio, keep := stockCoefficients(t.Work, blocks, len(offsets))
			if rows == 1 {
				parallelUnits(b-a, 1, func(lo, hi int) {
					stockBlend(t.Work, out[a+lo:a+hi], base[a+lo:a+hi], ratio, keep)
				})
			} else {
				stockBlend(t.Work, out[a:b], base[a:b], ratio, keep)
			}
		}
	})
	return nil
}

// stockStoredBlock is the longest segment model_stock works in on stored
// inputs: its task vectors stay in the L1 or L2 cache from one kernel to
// the next. A multiple of tensor.SumSquaresBlock.
const stockStoredBlock = 2048

// stockStoredSegments calls fn for the segments of a piece of n elements
// of stored bfloat16 inputs (Tensors.Stored), in index order: the units of
// the piece (rows with filter_wise, else the whole piece) are cut into
// blocks of block elements from their start, as Piece cuts them, and the
// blocks into segments of at most stockStoredBlock. fn gets the unit's
// index in the piece, whether the segment ends a block and whether it ends
// the unit, and the segment's bounds.
func stockStoredSegments(n, unit, block int, fn func(u int, endBlock, endUnit bool, lo, hi int)) {
	for u, a := 0, 0; a < n; u, a = u+1, a+unit {
		b := min(n, a+unit)
		for c := a; c < b; c += block {
			d := min(b, c+block)
			for lo := c; lo < d; lo += stockStoredBlock {
				hi := min(d, lo+stockStoredBlock)
				fn(u, hi == d, hi == b, lo, hi)
			}
		}
	}
}

// storedRaws returns the stored bytes of the base and of the other inputs.
func storedRaws(t *Tensors) (base []byte, others [][]byte) {
	for i, in := range t.Inputs {
		if i == t.Base {
			base = in.BF16
		} else {
			others = append(others, in.BF16)
		}
	}
	return base, others
}

// pieceStored is Piece on stored inputs: the task vectors of each segment
// are computed from the bytes (SubBF16Bytes rounds X_i − B as subRound
// does) and their sums added to the unit's, the squares in SumSquaresAcc
// (SumSquares' order over the whole unit) and the dot products in index
// order (RoundedDotsBF16Exact adds to its sums).
func (a *stockAnalysis) pieceStored(t *Tensors) error {
	if len(t.Inputs) == 1 && t.Base == 0 {
		return nil
	}
	if len(t.Inputs) < 3 {
		return fmt.Errorf("%s: model_stock requires at least 3 models (base plus two or more others), got %d", t.Name, len(t.Inputs))
	}
	baseRaw, raws := storedRaws(t)
	n, m := len(baseRaw)/2, len(raws)
	pairs := stockPairs(m)
	scratch := t.Scratch(m * stockStoredBlock)
	tvs := make([][]float32, m)
	squares := make([]tensor.SumSquaresAcc, m)
	var dots []float64
	var blocks []stockStats // of the unit, so far
	unit, block := a.cols, stockBlock()
	if unit == 0 {
		unit, block = max(n, 1), max(n, 1) // the piece is one block
	}
	first := int(t.Offset) / max(a.cols, 1)
	stockStoredSegments(n, unit, block, func(u int, endBlock, endUnit bool, lo, hi int) {
		if dots == nil {
			dots = make([]float64, len(pairs))
		}
		for i, x := range raws {
			tvs[i] = scratch[i*stockStoredBlock : i*stockStoredBlock+hi-lo]
			tensor.SubBF16Bytes(tvs[i], x[2*lo:2*hi], baseRaw[2*lo:2*hi])
			squares[i].Add(tvs[i])
		}
		tensor.RoundedDotsBF16Exact(dots, tvs, pairs)
		if !endBlock {
			return
		}
		st := stockStats{squares: make([]float64, m), dots: dots}
		for i := range squares {
			st.squares[i] = squares[i].Sum()
			squares[i] = tensor.SumSquaresAcc{}
		}
		blocks, dots = append(blocks, st), nil
		if !endUnit {
			return
		}
		if a.cols == 0 {
			a.blocks[t.Piece] = st
		} else {
			ratio, keep := stockCoefficients(t.Work, blocks, m)
			a.rows[first+u] = [2]float32{ratio, keep}
		}
		blocks = blocks[:0]
	})
	return nil
}

// mergeStored is Merge on stored inputs, segment by segment: the models'
// mean (each input decoded, added and rounded in input order, then
// divided) and its blend with the base, element by element as
// mergeModelStock's, in one kernel (tensor.MeanBlendBF16Bytes).
func (a *stockAnalysis) mergeStored(t *Tensors, out []float32) error {
	baseRaw, raws := storedRaws(t)
	if len(raws) == 0 {
		return tensor.Decode(out, baseRaw, tensor.BF16)
	}
	unit := a.cols
	if unit == 0 {
		unit = max(len(out), 1)
	}
	first := int(t.Offset) / max(a.cols, 1)
	xs := make([][]byte, len(raws))
	stockStoredSegments(len(out), unit, unit, func(u int, _, _ bool, lo, hi int) {
		for i, x := range raws {
			xs[i] = x[2*lo : 2*hi]
		}
		ratio, keep := a.ratio, a.keep
		if a.cols != 0 {
			ratio, keep = a.rows[first+u][0], a.rows[first+u][1]
		}
		tensor.MeanBlendBF16Bytes(out[lo:hi], xs, baseRaw[2*lo:2*hi], ratio, keep)
	})
	return nil
}
