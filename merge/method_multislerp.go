package merge

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// MultiSlerp is mergekit's "multislerp" (Goddard, "Multi-SLERP",
// https://goddard.blog/posts/multislerp-wow-what-a-cool-idea): barycentric
// interpolation of any number of models on the hypersphere, with the
// whole tensor as one vector. With X_i the inputs (the task vectors
// X_i − B when a base model is given) and weights w_i (divided by Σw when
// normalize_weights):
//
//	n_i = ‖X_i‖, u_i = X_i/(n_i + eps)
//	m = Σ w_i·u_i / ‖Σ w_i·u_i‖                      (tangent point)
//	τ = Σ w_i·(u_i − (u_i·m)·m), ℓ = ‖τ‖ + eps       (mean tangent vector)
//	R = (m·cos ℓ + τ·sin ℓ/ℓ) · Σ w_i·n_i  (+ B)     (exponential map back)
//
// When ‖Σ w_i·u_i‖ < eps, two inputs fall back to Σ w_i·X_i (+ B) and
// more are an error (antipodal inputs). Everything is rounded to the
// working dtype, weights included. One non-base input is returned as is.
var MultiSlerp = &Method{
	Name:   "multislerp",
	Pretty: "Multi-SLERP",
	URL:    "https://goddard.blog/posts/multislerp-wow-what-a-cool-idea",
	Base:   BaseOptional,
	Global: []Param{
		{Name: "normalize_weights", Default: 1},
		{Name: "eps", Default: 1e-8},
	},
	PerModel:  []Param{{Name: "weight", Required: true}},
	MinInputs: 1,
	EmbedRule: EmbedExact,
	Merge:     mergeMultiSlerp,
	WeightSum: multiSlerpWeightSum,
}

// multiSlerpWeightSum: with normalize_weights, the weights of the inputs
// other than the base are divided by their sum, unless one of them is
// alone and returned as it is.
func multiSlerpWeightSum(t *Task) []int {
	if t.Global["normalize_weights"] == 0 {
		return nil
	}
	var idx []int
	for i := range t.Inputs {
		if i != t.Base {
			idx = append(idx, i)
		}
	}
	if len(idx) < 2 {
		return nil
	}
	return idx
}

func init() { Register(MultiSlerp) }

func mergeMultiSlerp(t *Tensors, out []float32) error {
	var idx []int
	for i := range t.Inputs {
		if i != t.Base {
			idx = append(idx, i)
		}
	}
	switch len(idx) {
	case 0: // only the base has this tensor; mergekit fails on an empty stack
		copy(out, t.Inputs[t.Base].Data)
		return nil
	case 1:
		copy(out, t.Inputs[idx[0]].Data)
		return nil
	}
	r := func(v float32) float32 { return roundTo(t.Work, v) }
	eps := float32(t.Global["eps"])
	var base []float32
	if t.Base >= 0 {
		base = t.Inputs[t.Base].Data
	}
	m := len(idx)
	xs := make([][]float32, m)
	w := make([]float32, m)
	var wsum float32
	for k, i := range idx {
		xs[k] = t.Inputs[i].Data
		if base != nil {
			xs[k] = subRound(t, xs[k], base)
		}
		w[k] = t.w(i, "weight")
		wsum += w[k]
	}
	if t.Global["normalize_weights"] != 0 {
		wsum = r(wsum)
		for k := range w {
			w[k] = r(w[k] / wsum)
		}
	}
	norms := make([]float32, m)
	units := make([][]float32, m)
	mean := out // the mean direction is built in out, the result overwrites it
	clear(mean)
	for k, x := range xs {
		norms[k] = normRound(t.Work, x)
		d := r(norms[k] + eps)
		u := make([]float32, len(x))
		for j, v := range x {
			u[j] = r(v / d)
			mean[j] += r(u[j] * w[k])
		}
		units[k] = u
	}
	t.round(mean)
	meanNorm := normRound(t.Work, mean)
	if meanNorm < eps {
		if m != 2 {
			return fmt.Errorf("%s: the weighted sum of the normalised inputs is zero (antipodal inputs with balancing weights); try other weights", t.Name)
		}
		for j := range out {
			out[j] = r(r(xs[0][j]*w[0]) + r(xs[1][j]*w[1]))
		}
		return multislerpAddBase(t, out, base)
	}
	for j := range mean {
		mean[j] = r(mean[j] / meanNorm)
	}
	tangent := make([]float32, len(out))
	for k, u := range units {
		var dot float64
		for j, v := range u {
			dot += float64(r(v * mean[j]))
		}
		d := r(float32(dot))
		for j, v := range u {
			tangent[j] += r(r(v-r(d*mean[j])) * w[k])
		}
	}
	t.round(tangent)
	tn := r(normRound(t.Work, tangent) + eps)
	cosT := r(float32(math.Cos(float64(tn))))
	sinRatio := r(r(float32(math.Sin(float64(tn)))) / tn)
	var avg float32
	for k := range norms {
		avg += r(norms[k] * w[k])
	}
	avg = r(avg)
	for j := range out {
		out[j] = r(r(r(mean[j]*cosT)+r(tangent[j]*sinRatio)) * avg)
	}
	return multislerpAddBase(t, out, base)
}

func multislerpAddBase(t *Tensors, out, base []float32) error {
	if base != nil {
		tensor.Add(out, base)
		t.round(out)
	}
	return nil
}
