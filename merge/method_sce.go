package merge

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// SCE is mergekit's "sce", Select–Calculate–Erase (Wan et al.,
// "FuseChat: Knowledge Fusion of Chat Models", arXiv:2408.07990). With
// task vectors τ_i = X_i − B:
//
//	Select:    with select_topk < 1, keep only the ⌊select_topk·nnz(v)⌋
//	           positions of largest variance v = Var_i(τ_i) (population
//	           variance across models; nnz counts its non-zeros) and zero
//	           all τ_i elsewhere;
//	Calculate: q_i = mean(τ_i²), normalised to Σq = 1 (1/n each when
//	           |Σq| < 1e-6);
//	Erase:     σ = sign(Σ_i τ_i), M_i = [sign(τ_i) = σ];
//	R = B + Σ_i q_i·M_i·τ_i / max(Σ_i q_i·M_i, 1e-6)
//
// There are no per-model weights. Equal variances at the selection
// boundary are taken in index order. int8_mask has no numerical effect.
var SCE = &Method{
	Name:   "sce",
	Pretty: "SCE",
	URL:    "https://arxiv.org/abs/2408.07990",
	Base:   BaseRequired,
	Global: []Param{
		{Name: "int8_mask", Default: 0},
		{Name: "select_topk", Default: 1},
	},
	MinInputs: 1,
	EmbedRule: EmbedExact,
	Merge:     mergeSCE,
}

func init() { Register(SCE) }

func mergeSCE(t *Tensors, out []float32) error {
	base, tvs, ok := taskVectors(t)
	if !ok {
		return fmt.Errorf("%s: sce: base model tensor required but not present", t.Name)
	}
	if len(tvs) == 0 {
		copy(out, base)
		return nil
	}
	if k := t.Global["select_topk"]; k < 1 {
		sceSelect(t.Work, tvs, k)
	}
	r := func(v float32) float32 { return roundTo(t.Work, v) }
	q := sceWeights(t.Work, tvs)
	for j := range out {
		var sum float32
		for _, tv := range tvs {
			sum += tv[j]
		}
		positive := r(sum) >= 0
		var num, den float32
		for i, tv := range tvs {
			if v := tv[j]; v != 0 && (v > 0) == positive {
				num += r(v * q[i])
				den += q[i]
			}
		}
		out[j] = r(base[j] + r(r(num)/max(r(den), 1e-6)))
	}
	return nil
}

// sceSelect zeroes every task vector outside the positions of the
// ⌊topk·nnz⌋ largest variances across models.
func sceSelect(work tensor.DType, tvs [][]float32, topk float64) {
	if topk <= 0 {
		for _, tv := range tvs {
			clear(tv)
		}
		return
	}
	n := len(tvs[0])
	m := float64(len(tvs))
	v := make([]float32, n)
	nonzero := 0
	for j := range v {
		var mean float64
		for _, tv := range tvs {
			mean += float64(tv[j])
		}
		mean /= m
		var ss float64
		for _, tv := range tvs {
			d := float64(tv[j]) - mean
			ss += d * d
		}
		v[j] = roundTo(work, float32(ss/m))
		if v[j] != 0 {
			nonzero++
		}
	}
	// count_nonzero(var) * select_topk is a float32 tensor in torch.
	k := int(float32(float32(nonzero) * float32(topk)))
	// Walk the variances once, zeroing every model's task vector at the
	// positions that are not kept; equal variances at the boundary are
	// taken in index order. With k = 0 the threshold +Inf and no ties
	// keep nothing.
	thr, ties := float32(math.Inf(1)), 0
	if k > 0 {
		thr = kthLargest(append([]float32(nil), v...), k)
		above := 0
		for _, a := range v {
			if a > thr {
				above++
			}
		}
		ties = k - above
	}
	for j, a := range v {
		if a > thr {
			continue
		}
		if a == thr && ties > 0 {
			ties--
			continue
		}
		for _, tv := range tvs {
			tv[j] = 0
		}
	}
}

// sceWeights returns the matrix-level weights q_i = mean(τ_i²)/Σq.
func sceWeights(work tensor.DType, tvs [][]float32) []float32 {
	r := func(v float32) float32 { return roundTo(work, v) }
	q := make([]float32, len(tvs))
	var sum float32
	for i, tv := range tvs {
		var ss float64
		for _, v := range tv {
			ss += float64(r(v * v))
		}
		q[i] = r(float32(ss / float64(len(tv))))
		sum += q[i]
	}
	total := float64(r(sum))
	for i := range q {
		if math.Abs(total) < 1e-6 {
			q[i] = r(1 / float32(len(q)))
		} else {
			q[i] = r(q[i] / float32(total))
		}
	}
	return q
}
