package merge

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// RAM is mergekit's "ram", Reinforced Agent Merging (arXiv:2601.13572).
// With task vectors τ_i = X_i − B, an entry is active in model i when
// |τ_i| > epsilon; c counts the active models per position:
//
//	R = B + Σ_i A_i·τ_i·[c = 1] + Σ_i A_i·τ_i·[c > 1]/c
//
// Edits made by one model are kept whole, edits shared by several are
// averaged over the models that made them, untouched positions stay B.
var RAM = &Method{
	Name:      "ram",
	Pretty:    "Reinforced Agent Merging",
	URL:       "https://arxiv.org/abs/2601.13572",
	Base:      BaseRequired,
	Global:    []Param{{Name: "epsilon", Default: 1e-5}},
	MinInputs: 1,
	EmbedRule: EmbedExact,
	Merge:     func(t *Tensors, out []float32) error { return mergeRAM(t, out, false) },
	// Only ramplus_tl counts over the whole tensor.
	Elementwise: always,
}

// RAMPlusTL is mergekit's "ramplus_tl", Reinforced Agent Merging Plus
// with tensor-local ratios (arXiv:2601.13572): as RAM, but each model's
// unique edits are amplified by how much of its activity is shared:
//
//	s_i = #(A_i ∧ c > 1), u_i = #(A_i ∧ c = 1)
//	λ_i = 1 + r·clamp(s_i / max(u_i, epsilon), 0, alpha)
//	R = B + Σ_i λ_i·A_i·τ_i·[c = 1] + Σ_i A_i·τ_i·[c > 1]/c
//
// λ_i is a float32 tensor in mergekit, so with a 16-bit working dtype
// the sum is carried out, and returned, in float32: the result is not
// rounded to the working dtype (mergekit writes such tensors as float32
// unless out_dtype is set).
var RAMPlusTL = &Method{
	Name:   "ramplus_tl",
	Pretty: "Reinforced Agent Merging Plus (Tensor-Local)",
	URL:    "https://arxiv.org/abs/2601.13572",
	Base:   BaseRequired,
	Global: []Param{
		{Name: "r", Default: 0.1},
		{Name: "alpha", Default: 0.2},
		{Name: "epsilon", Default: 1e-5},
	},
	MinInputs: 1,
	EmbedRule: EmbedExact,
	Merge:     func(t *Tensors, out []float32) error { return mergeRAM(t, out, true) },
	PlanTask:  planFloat32Out(2),
}

func init() {
	Register(RAM)
	Register(RAMPlusTL)
}

func mergeRAM(t *Tensors, out []float32, plus bool) error {
	base, tvs, ok := taskVectors(t)
	if !ok {
		return fmt.Errorf("%s: base model tensor required but not present", t.Name)
	}
	if len(tvs) == 0 {
		copy(out, base)
		return nil
	}
	r := func(v float32) float32 { return roundTo(t.Work, v) }
	// mergekit compares with the tensor: epsilon takes the working dtype.
	eps := r(float32(t.Global["epsilon"]))
	active := func(v float32) bool { return float32(math.Abs(float64(v))) > eps }
	counts := make([]int32, len(out)) // active models per position
	for _, tv := range tvs {
		for j, v := range tv {
			if active(v) {
				counts[j]++
			}
		}
	}
	lambda := make([]float32, len(tvs))
	for i, tv := range tvs {
		lambda[i] = 1
		if !plus {
			continue
		}
		var shared, unique int
		for j, v := range tv {
			switch {
			case !active(v):
			case counts[j] == 1:
				unique++
			default:
				shared++
			}
		}
		rate := float32(shared) / max(float32(unique), float32(t.Global["epsilon"]))
		lambda[i] = 1 + float32(float32(t.Global["r"])*min(max(rate, 0), float32(t.Global["alpha"])))
	}
	clear(out)
	for i, tv := range tvs {
		for j, v := range tv {
			switch c := counts[j]; {
			case !active(v):
			case c == 1 && plus:
				out[j] += float32(v * lambda[i]) // float32: mergekit's float32 λ promotes
			case c == 1:
				out[j] += v
			default:
				out[j] += r(v / float32(c))
			}
		}
	}
	if plus && t.Work != tensor.F32 {
		tensor.Add(out, base)
		return nil
	}
	t.round(out)
	tensor.Add(out, base)
	t.round(out)
	return nil
}
