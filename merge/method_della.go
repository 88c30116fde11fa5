package merge

import (
	"fmt"
	"math"
)

var dellaPerModel = []Param{
	{Name: "weight", Required: true},
	{Name: "density", Default: 1},
	{Name: "epsilon", Default: 0.15},
}

// DELLA is mergekit's "della" (Deep et al., "DELLA-Merging: Reducing
// Interference in Model Merging through Magnitude-Based Sampling",
// arXiv:2406.11617): each task vector is dropped at random with keep
// probabilities that grow with the magnitude rank along dimension 1, from
// density − epsilon for the smallest to density + epsilon for the largest
// (see sparsifyDella), L1-rescaled (rescale, default true), and merged
// with TIES's sign election:
//
//	δ_i = rescale_L1(Bernoulli(p_i(rank)) ⊙ (X_i − B))
//	σ = sign(Σ_i w_i·δ_i)
//	R = B + lambda · Σ_i [sign(w_i·δ_i) = σ]·w_i·δ_i / Σ agreeing w_i
//
// normalize defaults to true. density ± epsilon must lie in (0, 1). The
// masks come from gomerge's seeded generator (randomSource).
var DELLA = &Method{
	Name:        "della",
	Pretty:      "DELLA",
	URL:         "https://arxiv.org/abs/2406.11617",
	Base:        BaseRequired,
	Global:      gtaParams(1, 1),
	PerModel:    dellaPerModel,
	MinInputs:   1,
	EmbedRule:   EmbedTruncateToBase,
	Merge:       gta(sparsifyDella, true),
	TaskVectors: true,
	PlanTask:    planDella,
	Elementwise: denseOnly,
	Analyze:     analyzeDella,
	PieceUnit:   dellaUnit,
	StoredBF16:  true,
}

// DELLALinear is mergekit's "della_linear" ("Linear DELLA",
// arXiv:2406.11617): DELLA's rank-biased random drop with L1 rescale and a
// plain weighted sum of the task vectors:
//
//	R = B + lambda · Σ_i w_i·δ_i   (/ Σ_i w_i with normalize, default false)
var DELLALinear = &Method{
	Name:        "della_linear",
	Pretty:      "Linear DELLA",
	URL:         "https://arxiv.org/abs/2406.11617",
	Base:        BaseRequired,
	Global:      gtaParams(0, 1),
	PerModel:    dellaPerModel,
	MinInputs:   1,
	EmbedRule:   EmbedTruncateToBase,
	Merge:       gta(sparsifyDella, false),
	TaskVectors: true,
	PlanTask:    planDella,
	Elementwise: denseOnly,
	Analyze:     analyzeDella,
	PieceUnit:   dellaUnit,
	StoredBF16:  true,
}

func init() {
	Register(DELLA)
	Register(DELLALinear)
}

// planDella rejects density/epsilon pairs whose keep probabilities leave
// (0, 1) before any weight is read.
func planDella(c *TaskContext) (bool, error) {
	for i, in := range c.Task.Inputs {
		if i == c.Task.Base {
			continue
		}
		d, e := in.Params["density"], in.Params["epsilon"]
		if d > 0 && d < 1 && (d+e >= 1 || d-e <= 0 || math.IsNaN(e)) {
			return false, fmt.Errorf("%s, %s: density %g, epsilon %g: %w", c.Task.Name, in.Model.Ref.String(), d, e, ErrDellaEpsilon)
		}
	}
	return false, nil
}
