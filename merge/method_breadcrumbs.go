package merge

var breadcrumbsPerModel = []Param{
	{Name: "weight", Required: true},
	{Name: "density", Default: 1},
	{Name: "gamma", Default: 0.01},
}

// Breadcrumbs is mergekit's "breadcrumbs" (Davari & Belilovsky, "Model
// Breadcrumbs: Scaling Multi-Task Model Merging with Sparse Masks",
// arXiv:2312.06795): each task vector loses its largest gamma·n
// magnitudes (outliers) and then its smallest ones, keeping density·n
// entries, and the weighted task vectors are summed:
//
//	R = B + lambda · Σ_i w_i·prune_outliers(X_i − B, density_i, gamma_i)
//
// normalize and rescale default to false. As in mergekit, a task vector
// for which ⌊gamma·n⌋ = 0 (small tensors, gamma 0) is dropped entirely;
// see sparsifyMagnitudeOutliers.
var Breadcrumbs = &Method{
	Name:        "breadcrumbs",
	Pretty:      "Model Breadcrumbs",
	URL:         "https://arxiv.org/abs/2312.06795",
	Base:        BaseRequired,
	Global:      gtaParams(0, 0),
	PerModel:    breadcrumbsPerModel,
	MinInputs:   1,
	EmbedRule:   EmbedTruncateToBase,
	Merge:       gta(sparsifyMagnitudeOutliers, false),
	TaskVectors: true,
	Elementwise: denseOnly,
	Analyze:     analyzeOutliers,
	WantsSample: true,
	CanAnalyze:  canAnalyzeOutliers,
	StoredBF16:  true,
}

// BreadcrumbsTIES is mergekit's "breadcrumbs_ties" ("Model Breadcrumbs
// with TIES", arXiv:2312.06795): Breadcrumbs' outlier pruning followed by
// TIES's sign election, σ = sign(Σ_i w_i·δ_i), keeping only the entries
// that agree with σ:
//
//	R = B + lambda · Σ_i [sign(w_i·δ_i) = σ]·w_i·δ_i  (/ Σ agreeing w_i with normalize)
//
// normalize and rescale default to false.
var BreadcrumbsTIES = &Method{
	Name:        "breadcrumbs_ties",
	Pretty:      "Model Breadcrumbs with TIES",
	URL:         "https://arxiv.org/abs/2312.06795",
	Base:        BaseRequired,
	Global:      gtaParams(0, 0),
	PerModel:    breadcrumbsPerModel,
	MinInputs:   1,
	EmbedRule:   EmbedTruncateToBase,
	Merge:       gta(sparsifyMagnitudeOutliers, true),
	TaskVectors: true,
	Elementwise: denseOnly,
	Analyze:     analyzeOutliers,
	WantsSample: true,
	CanAnalyze:  canAnalyzeOutliers,
	StoredBF16:  true,
}

func init() {
	Register(Breadcrumbs)
	Register(BreadcrumbsTIES)
}
