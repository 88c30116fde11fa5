package merge

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// ArceeFusion is mergekit's "arcee_fusion" (Arcee AI, https://arcee.ai):
// the other model X replaces the base B only where it differs most in an
// importance score that weighs the change by the divergence of the rows'
// softmaxes:
//
//	p = softmax(X) + 1e-8, q = softmax(B) + 1e-8   (per vector along the last dimension)
//	I = |X − B| · Σ p·log(p/q)
//	τ = median(I) + 1.5·(Q3(I) − Q1(I))            (quantile k of m sorted values: element ⌊k·(m−1)⌋)
//	R = B + (X − B)·[I ≥ τ]
//
// For tensors of more than 1,000,000 elements the median and the
// quartiles come from two independent random samples of 1,000,000
// elements each, drawn from the other model's randomSource (mergekit uses
// torch.randperm). The mask is float32 in mergekit, so the final sum is
// float32 and is not rounded to the working dtype: mergekit writes the
// result as float32 unless out_dtype is set. A tensor present in one input
// only is returned as is. The method takes no parameters.
var ArceeFusion = &Method{
	Name:      "arcee_fusion",
	Pretty:    "Arcee Fusion",
	URL:       "https://arcee.ai",
	Base:      BaseRequired,
	MinInputs: 1,
	MaxInputs: 2,
	EmbedRule: EmbedCommon,
	Merge:     mergeArceeFusion,
	PlanTask:  planFloat32Out(2),
}

// planFloat32Out reproduces a mergekit quirk: a float32 mask or factor
// promotes the merged tensor to float32, so without out_dtype tensors that
// merge at least minInputs inputs are stored as float32.
func planFloat32Out(minInputs int) func(c *TaskContext) (bool, error) {
	return func(c *TaskContext) (bool, error) {
		if !c.OutDTypeSet && len(c.Task.Inputs) >= minInputs && c.Task.Base >= 0 {
			c.Task.Out = tensor.F32
		}
		return false, nil
	}
}

func init() { Register(ArceeFusion) }

// arceeFusionSample is the number of elements mergekit samples for the
// quantiles of larger tensors.
const arceeFusionSample = 1_000_000

func mergeArceeFusion(t *Tensors, out []float32) error {
	if len(t.Inputs) == 1 {
		copy(out, t.Inputs[0].Data)
		return nil
	}
	if len(t.Inputs) != 2 {
		return fmt.Errorf("%s: arcee_fusion merges exactly two models, got %d", t.Name, len(t.Inputs))
	}
	if t.Base < 0 {
		return fmt.Errorf("%s: arcee_fusion: base model not among the input tensors", t.Name)
	}
	other := 1 - t.Base
	b, x := t.Inputs[t.Base].Data, t.Inputs[other].Data
	rowLen := len(out)
	if len(t.Shape) >= 1 && len(out) > 0 {
		rowLen = int(t.Shape[len(t.Shape)-1])
	}
	delta := subRound(t, x, b)
	imp := arceeFusionImportance(t.Work, x, b, delta, rowLen)
	thr := arceeFusionThreshold(t, imp, t.Inputs[other].Model)
	for j := range out {
		if imp[j] >= thr {
			out[j] = b[j] + delta[j]
		} else {
			out[j] = b[j]
		}
	}
	return nil
}

// arceeFusionImportance returns |X − B| times the KL divergence of each
// row's softmaxes, every op rounded to the working dtype.
func arceeFusionImportance(work tensor.DType, x, b, delta []float32, rowLen int) []float32 {
	r := func(v float32) float32 { return roundTo(work, v) }
	imp := make([]float32, len(x))
	p := make([]float32, rowLen)
	q := make([]float32, rowLen)
	for lo := 0; lo < len(x); lo += rowLen {
		arceeFusionSoftmax(work, p, x[lo:lo+rowLen])
		arceeFusionSoftmax(work, q, b[lo:lo+rowLen])
		var kl float64
		for k := range p {
			pk, qk := r(p[k]+1e-8), r(q[k]+1e-8)
			kl += float64(r(pk * r(float32(math.Log(float64(r(pk/qk)))))))
		}
		div := r(float32(kl))
		for k := lo; k < lo+rowLen; k++ {
			imp[k] = r(float32(math.Abs(float64(delta[k]))) * div)
		}
	}
	return imp
}

// arceeFusionSoftmax is torch's CPU softmax: exp(x − max), then a multiply
// by the reciprocal of the sum.
func arceeFusionSoftmax(work tensor.DType, dst, x []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	var sum float64
	for k, v := range x {
		dst[k] = float32(math.Exp(float64(v - mx)))
		sum += float64(dst[k])
	}
	inv := 1 / float32(sum)
	for k := range dst {
		dst[k] = roundTo(work, dst[k]*inv)
	}
}

// arceeFusionThreshold returns median + 1.5·(Q3 − Q1) of the importance
// scores, sampled as mergekit does for tensors above a million elements.
func arceeFusionThreshold(t *Tensors, imp []float32, model string) float32 {
	r := func(v float32) float32 { return roundTo(t.Work, v) }
	var medSet, quartSet []float32
	if len(imp) > arceeFusionSample {
		src := newRandomSource(t.Seed, model)
		gather := func() []float32 {
			idx := src.sample(uint64(len(imp)), arceeFusionSample)
			s := make([]float32, len(idx))
			for k, j := range idx {
				s[k] = imp[j]
			}
			return s
		}
		medSet, quartSet = gather(), gather()
	} else {
		medSet = append([]float32(nil), imp...)
		quartSet = medSet
	}
	med := arceeFusionQuantile(medSet, 0.5)
	q1 := arceeFusionQuantile(quartSet, 0.25)
	q3 := arceeFusionQuantile(quartSet, 0.75)
	return r(med + r(1.5*r(q3-q1)))
}

// arceeFusionQuantile returns element ⌊q·(m−1)⌋ (computed in float32, as
// mergekit's float32 q tensor does) of the m values sorted ascending. It
// reorders s.
func arceeFusionQuantile(s []float32, q float32) float32 {
	m := len(s)
	if m == 0 {
		return float32(math.NaN())
	}
	i := int(float32(q * float32(m-1)))
	return kthLargest(s, m-i)
}
