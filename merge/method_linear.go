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
	StoredBF16:  true,
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
	if t.Stored {
		return mergeLinearStored(t, out)
	}
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

// linearBlock is the block of elements mergeLinearStored sums at a time:
// 8 KiB of float32, which stays in the L1 cache from one input to the
// next.
const linearBlock = 2048

// mergeLinearStored is mergeLinear on stored bfloat16 inputs
// (Tensors.Stored): block by block, each input's stored bytes are
// weighted and added as they are decoded (tensor.AxpyRoundBF16Bytes), so
// that every input byte is read once and no float32 copy of an input is
// written. Every step is element-wise, so
// the blocks give the bytes of tensor.CPU's WeightedSum over the piece.
func mergeLinearStored(t *Tensors, out []float32) error {
	ws := make([]float32, len(t.Inputs))
	var wsum float32
	for i := range t.Inputs {
		ws[i] = t.w(i, "weight")
		wsum += ws[i]
	}
	normalize := t.Global["normalize"] != 0
	div := tensor.RoundScalar(t.Work, wsum)
	for lo := 0; lo < len(out); lo += linearBlock {
		end := min(len(out), lo+linearBlock)
		acc := out[lo:end]
		clear(acc)
		for i, in := range t.Inputs {
			tensor.AxpyRoundBF16Bytes(acc, ws[i], in.BF16[2*lo:2*end])
		}
		tensor.Round(t.Work, acc)
		if normalize {
			tensor.DivScalarRound(t.Work, acc, div)
		}
	}
	return nil
}
