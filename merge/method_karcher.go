package merge

import (
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// Karcher is mergekit's "karcher": the Riemannian (Karcher) mean of the
// inputs on the unit hypersphere, rescaled by their mean norm
// (https://en.wikipedia.org/wiki/Karcher_mean). Every input, the base
// model included when it is among them, gets weight α = 1/N; per-model
// weights are not used. With u_i = X_i/‖X_i‖ over the inputs whose norm
// exceeds tol (α renormalised over them):
//
//	u ← Σ α_i·u_i / ‖Σ α_i·u_i‖
//	repeat max_iter times:
//	    T = Σ_{θ_i ≥ tol} α_i·θ_i/sin θ_i·(u_i − cos θ_i·u),  θ_i = acos(clamp(u·u_i, −1, 1))
//	    stop if ‖T‖ < tol;  u ← cos‖T‖·u + sin‖T‖·T/‖T‖, renormalised
//	R = (Σ_i α_i·‖X_i‖)·u
//
// Norms are taken in float32, everything else is rounded to the working
// dtype. A tensor present in only one input is returned unchanged.
// max_iter comes from the config, so the iterations stop with the merge's
// context (see Tensors.Context).
var Karcher = &Method{
	Name:   "karcher",
	Pretty: "Karcher Mean",
	URL:    "https://en.wikipedia.org/wiki/Karcher_mean",
	Base:   BaseNotSpecial,
	Global: []Param{
		{Name: "max_iter", Default: 10},
		{Name: "tol", Default: 1e-5},
	},
	MinInputs: 1,
	EmbedRule: EmbedExact,
	Merge:     mergeKarcher,
}

func init() { Register(Karcher) }

func mergeKarcher(t *Tensors, out []float32) error {
	if len(t.Inputs) == 1 {
		copy(out, t.Inputs[0].Data)
		return nil
	}
	r := func(v float32) float32 { return roundTo(t.Work, v) }
	maxIter, tol := int(t.Global["max_iter"]), t.Global["tol"]
	alpha := 1 / float64(len(t.Inputs))
	norms := make([]float64, len(t.Inputs))
	var units [][]float32
	var alphaSum float64
	for i, in := range t.Inputs {
		n := karcherNorm(in.Data)
		norms[i] = float64(n)
		if norms[i] <= tol { // zero or tiny: not a valid direction
			continue
		}
		u := make([]float32, len(in.Data))
		for j, v := range in.Data {
			u[j] = r(v / n)
		}
		units = append(units, u)
		alphaSum += alpha
	}
	if len(units) == 0 {
		clear(out)
		return nil
	}
	a := float32(alpha / alphaSum)
	u := out
	clear(u)
	for _, ui := range units {
		for j, v := range ui {
			u[j] = r(u[j] + r(a*v))
		}
	}
	if nu := karcherNorm(u); float64(nu) < tol {
		copy(u, units[0])
	} else {
		for j := range u {
			u[j] = r(u[j] / nu)
		}
	}
	T := make([]float32, len(u))
	done := t.Context().Done()
	for iter := 0; iter < maxIter; iter++ {
		select {
		case <-done:
			return t.Context().Err()
		default:
		}
		clear(T)
		for _, ui := range units {
			dot := min(max(r(float32(tensor.Dot(u, ui))), -1), 1)
			theta := r(float32(math.Acos(float64(dot))))
			if float64(theta) < tol {
				continue
			}
			c := r(a * r(theta/r(float32(math.Sin(float64(theta))))))
			for j, v := range ui {
				T[j] = r(T[j] + r(c*r(v-r(dot*u[j]))))
			}
		}
		nT := karcherNorm(T)
		if float64(nT) < tol {
			break
		}
		cosT, sinT := float32(math.Cos(float64(nT))), float32(math.Sin(float64(nT)))
		for j := range u {
			u[j] = r(r(cosT*u[j]) + r(sinT*r(T[j]/nT)))
		}
		if nu := karcherNorm(u); float64(nu) > tol {
			for j := range u {
				u[j] = r(u[j] / nu)
			}
		}
	}
	var s float64
	for _, n := range norms {
		s += alpha * n
	}
	scaleRound(t.Work, out, float32(s))
	return nil
}

// karcherNorm is the float32 norm of x (mergekit upcasts before norms).
func karcherNorm(x []float32) float32 {
	return float32(math.Sqrt(tensor.SumSquares(x)))
}
