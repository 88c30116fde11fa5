package merge

import (
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestSCE(t *testing.T) {
	base := []float32{0, 0, 0, 0}
	a := []float32{1, -1, 2, 0}
	b := []float32{3, 1, -2, 0}
	none := func(n int) []map[string]float64 { return make([]map[string]float64, n) }
	tests := []struct {
		name string
		data [][]float32
		topk float64
		want []float32
	}{
		// q = mean(τ²) = 1.5, 3.5 → 0.3, 0.7; σ = + everywhere (sums 4, 0,
		// 0, 0); element 3 has no agreeing entry: 0/1e-6 = 0.
		{"no selection", [][]float32{base, a, b}, 1, []float32{(0.3*1 + 0.7*3) / 1, 1, 2, 0}},
		// Variances 1, 1, 4, 0: k = ⌊3·0.5⌋ = 1 keeps element 2 only;
		// q = 1, 1 → 0.5, 0.5; σ = + (sum 0) keeps a's 2.
		{"top half by variance", [][]float32{base, a, b}, 0.5, []float32{0, 0, 2, 0}},
		{"select nothing", [][]float32{base, a, b}, 0, base},
		// One model has zero variance everywhere, so nothing is selected.
		{"one model with selection", [][]float32{base, a}, 0.5, base},
		{"one model", [][]float32{base, a}, 1, []float32{1, -1, 2, 0}},
		{"only the base", [][]float32{base}, 1, base},
		{"empty task vectors", [][]float32{base, base, base}, 1, base},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(none(len(tc.data)), tc.data...),
				Global: map[string]float64{"select_topk": tc.topk}}
			got := runMethod(t, SCE, ts)
			if !near(got, tc.want, 1e-6) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSCESelectTies pins which positions sceSelect keeps when variances tie
// at the boundary (taken in index order) and when ⌊topk·nnz⌋ is zero.
func TestSCESelectTies(t *testing.T) {
	for _, c := range []struct {
		topk float64
		want []float32
	}{
		{0.2, []float32{0, 0, 0, 0, 0}},
		{0.25, []float32{0, 0, 0, 0, 2}},
		{0.5, []float32{1, 0, 0, 0, 2}},
		{0.75, []float32{1, 1, 0, 0, 2}},
		{1, []float32{1, 1, 1, 0, 2}},
	} {
		// Variances are 1, 1, 1, 0, 4: three ties, one zero.
		a := []float32{1, 1, 1, 0, 2}
		b := []float32{-1, -1, -1, 0, -2}
		sceSelect(tensor.F32, [][]float32{a, b}, c.topk)
		for j := range a {
			if a[j] != c.want[j] || b[j] != -c.want[j] {
				t.Errorf("topk %v: got %v %v, want %v and its negation", c.topk, a, b, c.want)
				break
			}
		}
	}
}
