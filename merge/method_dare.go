package merge

// DARETIES is mergekit's "dare_ties" (Yu et al., "Language Models are
// Super Mario: Absorbing Abilities from Homologous Models as a Free Lunch",
// arXiv:2311.03099), the task-arithmetic family with DARE's random drop
// and TIES's sign consensus:
//
//	δ_i = rescale_L1(Bernoulli(density_i) ⊙ (X_i − B))
//	σ = sign(Σ_i w_i·δ_i), M_i = [sign(w_i·δ_i) = σ]
//	R = B + lambda · Σ_i M_i·w_i·δ_i  (/ Σ_i M_i·w_i with normalize)
//
// rescale (default true) restores each pruned task vector's whole-tensor
// L1 norm, not the paper's per-element 1/density; normalize defaults to
// false. The masks come from gomerge's seeded generator (randomSource), so
// results match mergekit's statistically, not bitwise.
var DARETIES = &Method{
	Name:        "dare_ties",
	Pretty:      "DARE TIES",
	URL:         "https://arxiv.org/abs/2311.03099",
	Base:        BaseRequired,
	Global:      gtaParams(0, 1),
	PerModel:    gtaPerModel,
	MinInputs:   1,
	EmbedRule:   EmbedTruncateToBase,
	Merge:       gta(sparsifyRandom, true),
	TaskVectors: true,
	Analyze:     analyzeRandom,
	Elementwise: denseOnly,
	StoredBF16:  true,
}

// DARELinear is mergekit's "dare_linear" ("Linear DARE", arXiv:2311.03099):
// DARE's random drop with L1 rescale (default on) and a plain weighted sum
// of the task vectors, without sign consensus:
//
//	R = B + lambda · Σ_i w_i·rescale_L1(Bernoulli(density_i) ⊙ (X_i − B))
//
// divided by Σ_i w_i when normalize (default false) is set.
var DARELinear = &Method{
	Name:        "dare_linear",
	Pretty:      "Linear DARE",
	URL:         "https://arxiv.org/abs/2311.03099",
	Base:        BaseRequired,
	Global:      gtaParams(0, 1),
	PerModel:    gtaPerModel,
	MinInputs:   1,
	EmbedRule:   EmbedTruncateToBase,
	Merge:       gta(sparsifyRandom, false),
	TaskVectors: true,
	Analyze:     analyzeRandom,
	Elementwise: denseOnly,
	StoredBF16:  true,
}

func init() {
	Register(DARETIES)
	Register(DARELinear)
}
