package merge

import (
	"fmt"

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

// productBlock is the block of productSum's partial sums; fixed, so that
// the sum does not depend on the number of CPUs.
const productBlock = 1 << 16

// productSum is Σ_j round(a_j·b_j) accumulated in float64: in order within
// blocks of productBlock elements, whose sums are added in order. parallel
// lets the blocks run on several CPUs.
func productSum(work tensor.DType, a, b []float32, parallel bool) float64 {
	blocks := (len(a) + productBlock - 1) / productBlock
	sums := make([]float64, blocks)
	run := func(lo, hi int) {
		for k := lo; k < hi; k++ {
			var s float64
			end := min(len(a), (k+1)*productBlock)
			for j := k * productBlock; j < end; j++ {
				s += float64(roundTo(work, a[j]*b[j]))
			}
			sums[k] = s
		}
	}
	if parallel {
		parallelUnits(blocks, productBlock, run)
	} else {
		run(0, blocks)
	}
	var total float64
	for _, s := range sums {
		total += s
	}
	return total
}

func mergeModelStock(t *Tensors, out []float32) error {
	if len(t.Inputs) == 1 && t.Base == 0 {
		copy(out, t.Inputs[0].Data)
		return nil
	}
	if t.Base < 0 {
		return fmt.Errorf("%s: model_stock: base model tensor not found", t.Name)
	}
	if len(t.Inputs) < 3 {
		return fmt.Errorf("%s: model_stock requires at least 3 models (base plus two or more others), got %d", t.Name, len(t.Inputs))
	}
	r := func(v float32) float32 { return roundTo(t.Work, v) }
	base := t.Inputs[t.Base].Data
	var ws, offsets [][]float32
	for i, in := range t.Inputs {
		if i != t.Base {
			ws = append(ws, in.Data)
			offsets = append(offsets, subRound(t, in.Data, base))
		}
	}
	n := len(out)
	cols := n
	if t.Global["filter_wise"] != 0 && len(t.Shape) >= 1 && n > 0 {
		cols = int(t.Shape[len(t.Shape)-1])
	}
	// out holds the running sum of the models, then their mean.
	copy(out, ws[0])
	for _, w := range ws[1:] {
		tensor.Add(out, w)
		t.round(out)
	}
	nModels := float32(len(ws))
	tensor.DivScalar(out, nModels)
	t.round(out)
	rows := (n + cols - 1) / max(cols, 1)
	if n == 0 {
		rows = 0
	}
	// Filter-wise rows are independent and run in parallel; a single row
	// (the whole tensor) sums its dot products in parallel blocks instead.
	parallelUnits(rows, cols, func(lo, hi int) {
		norms := make([]float32, len(offsets))
		for row := lo; row < hi; row++ {
			a, b := row*cols, min(n, (row+1)*cols)
			for i, o := range offsets {
				norms[i] = normRound(t.Work, o[a:b])
			}
			var sum float32
			pairs := 0
			for i := range offsets {
				for k := i + 1; k < len(offsets); k++ {
					dot := productSum(t.Work, offsets[i][a:b], offsets[k][a:b], rows == 1)
					den := max(r(norms[i]*norms[k]), 1e-6)
					sum += min(max(r(r(float32(dot))/den), -1), 1)
					pairs++
				}
			}
			c := r(r(sum) / float32(pairs))
			ratio := r(r(nModels*c) / r(1+r((nModels-1)*c)))
			keep := r(1 - ratio)
			blend := func(lo, hi int) {
				for j := lo; j < hi; j++ {
					out[j] = r(r(ratio*out[j]) + r(keep*base[j]))
				}
			}
			if rows == 1 {
				parallelUnits(b-a, 1, func(lo, hi int) { blend(a+lo, a+hi) })
			} else {
				blend(a, b)
			}
		}
	})
	return nil
}
