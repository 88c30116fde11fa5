package merge

import (
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestRAM(t *testing.T) {
	base := []float32{0, 0, 0, 0}
	a := []float32{1, 1, 0, 1e-6}
	b := []float32{0, 3, 2, 0}
	c := []float32{0, 3, 0, 0}
	none := func(n int) []map[string]float64 { return make([]map[string]float64, n) }
	tests := []struct {
		name string
		m    *Method
		data [][]float32
		want []float32
	}{
		// Active (|τ| > 1e-5): a at 0, 1; b at 1, 2. Counts 1, 2, 1, 0.
		{"ram", RAM, [][]float32{base, a, b}, []float32{1, 2, 2, 0}},
		// Each model: 1 shared, 1 unique: ρ = 1, clamped to 0.2; λ = 1.02.
		{"ramplus_tl", RAMPlusTL, [][]float32{base, a, b}, []float32{1.02, 2, 2.04, 0}},
		// c has no unique entry: ρ = 1/1e-5, clamped; a: ρ = 1 (λ 1.02).
		{"ramplus_tl no unique", RAMPlusTL, [][]float32{base, a, c}, []float32{1.02, 2, 0, 0}},
		{"only the base", RAM, [][]float32{base}, base},
		{"empty task vector", RAMPlusTL, [][]float32{base, base}, base},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runMethod(t, tc.m, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(none(len(tc.data)), tc.data...)})
			if !near(got, tc.want, 1e-6) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRAMPlusFloat32 checks mergekit's promotion: with a bfloat16 working
// dtype ramplus_tl's unique edits are scaled by a float32 λ and the result
// stays float32, while ram's is bfloat16.
func TestRAMPlusFloat32(t *testing.T) {
	base := []float32{1, 1}
	y := []float32{1, 1.5}
	z := []float32{1.5, 1.5}
	none := make([]map[string]float64, 3)
	// z: unique at 0, shared at 1, so λ = 1.02; y: shared only.
	got := runMethod(t, RAMPlusTL, &Tensors{Work: tensor.BF16, Base: 0, Inputs: inputs(none, base, z, y)})
	if want := float32(1) + float32(0.5*float32(1.02)); got[0] != want {
		t.Errorf("ramplus_tl bf16 element 0 = %v, want the float32 %v", got[0], want)
	}
	if tensor.RoundScalar(tensor.BF16, got[0]) == got[0] {
		t.Errorf("ramplus_tl bf16 result %v was rounded to bfloat16", got[0])
	}
	got = runMethod(t, RAM, &Tensors{Work: tensor.BF16, Base: 0, Inputs: inputs(none, base, z, y)})
	for _, v := range got {
		if tensor.RoundScalar(tensor.BF16, v) != v {
			t.Errorf("ram bf16 result %v is not bfloat16", v)
		}
	}
}
