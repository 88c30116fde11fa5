package merge

import (
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestNearSwap(t *testing.T) {
	base := []float32{0, 0, 0, 5}
	x := []float32{0.1, 1, 2, 5}
	tests := []struct {
		name string
		ts   *Tensors
		tval float64
		want []float32
		err  string
	}{
		// |B−X| = 0.1, 1, 2, 0: w = 1, 0.5, 0.25, 1.
		{"swap near values", &Tensors{Base: 0, Inputs: inputs(weights(0, 0), base, x)}, 0.5, []float32{0.1, 0.5, 0.5, 5}, ""},
		{"t = 0 keeps the base", &Tensors{Base: 0, Inputs: inputs(weights(0, 0), base, x)}, 0, []float32{0, 0, 0, 5}, ""},
		{"base second", &Tensors{Base: 1, Inputs: inputs(weights(0, 0), x, base)}, 0.5, []float32{0.1, 0.5, 0.5, 5}, ""},
		{"only the base", &Tensors{Base: 0, Inputs: inputs(weights(0), base)}, 0.5, base, ""},
		{"no base", &Tensors{Base: -1, Inputs: inputs(weights(0), x)}, 0.5, nil, "base model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ts.Work = tensor.F32
			tc.ts.Global = map[string]float64{"t": tc.tval}
			got, err := runMethodShape(NearSwap, tc.ts, 4)
			checkMerge(t, got, err, tc.want, tc.err, 1e-6)
		})
	}
}
