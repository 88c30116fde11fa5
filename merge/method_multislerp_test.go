package merge

import (
	"math"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestMultiSlerp(t *testing.T) {
	const h = math.Sqrt2 / 2
	e1, e2 := []float32{1, 0}, []float32{0, 1}
	tests := []struct {
		name   string
		ts     *Tensors
		global map[string]float64
		want   []float32
		err    string
	}{
		{"one model", &Tensors{Base: -1, Inputs: inputs(weights(1), e1)}, nil, e1, ""},
		{"base plus one model", &Tensors{Base: 0, Inputs: inputs(weights(0, 1), e2, e1)}, nil, e1, ""},
		{"orthogonal halfway", &Tensors{Base: -1, Inputs: inputs(weights(1, 1), e1, e2)}, nil, []float32{h, h}, ""},
		// The norm is the weighted mean norm: (2 + 4)/2.
		{"scaled", &Tensors{Base: -1, Inputs: inputs(weights(1, 1), []float32{2, 0}, []float32{0, 4})}, nil, []float32{3 * h, 3 * h}, ""},
		{"unnormalised weights scale", &Tensors{Base: -1, Inputs: inputs(weights(2, 2), e1, e2)}, map[string]float64{"normalize_weights": 0},
			multislerpUnnormalised(), ""},
		{"task vectors from the base", &Tensors{Base: 2, Inputs: inputs(weights(1, 1, 0), []float32{2, 1}, []float32{1, 2}, []float32{1, 1})}, nil,
			[]float32{1 + h, 1 + h}, ""},
		{"three equal directions", &Tensors{Base: -1, Inputs: inputs(weights(1, 1, 1), e1, e1, e1)}, nil, e1, ""},
		// Antipodal pair: the linear fallback, 0.5·e1 − 0.5·e1.
		{"antipodal pair", &Tensors{Base: -1, Inputs: inputs(weights(1, 1), e1, []float32{-1, 0})}, nil, []float32{0, 0}, ""},
		{"antipodal three", &Tensors{Base: -1, Inputs: inputs(weights(1, 1, 1), e1, []float32{-1, 0}, []float32{0, 0})}, nil, nil, "antipodal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ts.Work, tc.ts.Global = tensor.F32, tc.global
			got, err := runMethodShape(MultiSlerp, tc.ts, 2)
			checkMerge(t, got, err, tc.want, tc.err, 1e-6)
		})
	}
}

// multislerpUnnormalised works out weights (2, 2) on e1, e2 without
// normalisation: m = (h, h), τ = 2·(u_i − (u_i·m)m) sums to 0, ℓ = eps,
// scale Σ w_i·n_i = 4.
func multislerpUnnormalised() []float32 {
	const h = math.Sqrt2 / 2
	return []float32{4 * h, 4 * h}
}
