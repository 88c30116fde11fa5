package merge

import "math"

// Passthrough is mergekit's "passthrough" method: the single input is
// copied, multiplied by the per-model "scale" when one is set. It builds
// frankenmerges from slices and copies modules.
var Passthrough = &Method{
	Name:        "passthrough",
	Pretty:      "Passthrough",
	Base:        BaseNone,
	PerModel:    []Param{{Name: "scale", Default: math.NaN()}},
	MinInputs:   1,
	MaxInputs:   1,
	Merge:       mergePassthrough,
	Elementwise: always,
}

func init() { Register(Passthrough) }

func mergePassthrough(t *Tensors, out []float32) error {
	in := t.Inputs[0]
	copy(out, in.Data)
	if s := in.Params["scale"]; !math.IsNaN(s) {
		scale := float32(s)
		for j := range out {
			out[j] *= scale
		}
		t.round(out)
	}
	return nil
}
