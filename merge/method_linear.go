package merge

import (
	"fmt"

	"github.com/gomerge/gomerge/tensor"
)

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
	xs := make([][]float32, len(t.Inputs))
	ws := make([]float32, len(t.Inputs))
	var wsum float32
	for i, in := range t.Inputs {
		ws[i] = t.w(i, "weight")
		wsum += ws[i]
		xs[i] = in.Data
	}
	normalize := t.Global["normalize"] != 0
	if err := t.be().WeightedSum(t.Work, out, xs, ws, normalize, tensor.RoundScalar(t.Work, wsum)); err != nil {
		return fmt.Errorf("linear merge of %s: %w", t.Name, err)
	}
	return nil
}
