package merge

import "github.com/gomerge/gomerge/tensor"

// Linear is mergekit's "linear" method, a weighted average of the inputs
// (Wortsman et al., "Model soups", arXiv:2203.05482):
//
//	R = Σ_i w_i·X_i            and, with normalize (default true),
//	R = R / Σ_i w_i
//
// As in mergekit the weights are first rounded to the working dtype and
// every product is rounded to it before the sum, which accumulates in
// float32 and is rounded once. Weights that sum to zero give Inf/NaN, as
// in mergekit.
var Linear = &Method{
	Name:        "linear",
	Pretty:      "Linear",
	URL:         "https://arxiv.org/abs/2203.05482",
	Base:        BaseNotSpecial,
	Global:      []Param{{Name: "normalize", Default: 1}},
	PerModel:    []Param{{Name: "weight", Required: true}},
	MinInputs:   1,
	EmbedRule:   EmbedCommon,
	Merge:       mergeLinear,
	Elementwise: always,
	WeightSum:   linearWeightSum,
}

// linearWeightSum: with normalize, every input's weight is in the divisor.
func linearWeightSum(t *Task) []int {
	if t.Global["normalize"] == 0 {
		return nil
	}
	idx := make([]int, len(t.Inputs))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func init() { Register(Linear) }

func mergeLinear(t *Tensors, out []float32) error {
	clear(out)
	var wsum float32
	for i, in := range t.Inputs {
		w := t.w(i, "weight")
		wsum += w
		axpyRound(t.Work, out, w, in.Data)
	}
	t.round(out)
	if t.Global["normalize"] != 0 {
		div := tensor.RoundScalar(t.Work, wsum)
		tensor.DivScalarRound(t.Work, out, div)
	}
	return nil
}

// axpyRound adds round(w·x[j]) to acc[j]: a product rounded to the working
// dtype, accumulated in float32 like torch's sum over a stacked dimension.
func axpyRound(work tensor.DType, acc []float32, w float32, x []float32) {
	tensor.AxpyRound(work, acc, w, x)
}
