package merge

import (
	"fmt"
	"math"
)

// NearSwap is mergekit's "nearswap" (alchemonaut,
// https://huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001): the base
// model B takes the other model X's value where the two are already close:
//
//	w = clamp(t / max(|B − X|, 1e-6), 0, 1)
//	R = w·X + (1 − w)·B
//
// so a small t (e.g. 1e-4) swaps in only near-identical parameters. As in
// torch, t/x is computed as (1/x)·t, and every op is rounded to the
// working dtype. A tensor only the base has is returned as is.
var NearSwap = &Method{
	Name:        "nearswap",
	Pretty:      "NearSwap",
	URL:         "https://huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001",
	Base:        BaseRequired,
	Global:      []Param{{Name: "t", Required: true}},
	MinInputs:   1,
	MaxInputs:   2,
	EmbedRule:   EmbedExact,
	Merge:       mergeNearSwap,
	Elementwise: always,
}

func init() { Register(NearSwap) }

func mergeNearSwap(t *Tensors, out []float32) error {
	if t.Base < 0 {
		return fmt.Errorf("%s: nearswap: base model tensor required but not present", t.Name)
	}
	a := t.Inputs[t.Base].Data
	if len(t.Inputs) == 1 {
		copy(out, a)
		return nil
	}
	if len(t.Inputs) != 2 {
		return fmt.Errorf("%s: nearswap merges exactly two models, one base and one other; got %d", t.Name, len(t.Inputs))
	}
	b := t.Inputs[1-t.Base].Data
	r := func(v float32) float32 { return roundTo(t.Work, v) }
	tv := float32(t.Global["t"])
	floor := r(1e-6)
	for j := range out {
		diff := max(r(float32(math.Abs(float64(r(a[j]-b[j]))))), floor)
		w := min(max(r(r(1/diff)*tv), 0), 1)
		out[j] = r(r(w*b[j]) + r(r(1-w)*a[j]))
	}
	return nil
}
