package merge

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestArceeFusionQuantile(t *testing.T) {
	s := []float32{5, 1, 4, 2, 3}
	for _, tc := range []struct{ q, want float32 }{{0.5, 3}, {0.25, 2}, {0.75, 4}, {0, 1}, {1, 5}} {
		if got := arceeFusionQuantile(slices.Clone(s), tc.q); got != tc.want {
			t.Errorf("quantile %v = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Even count: element ⌊0.5·3⌋ = 1, the lower median.
	if got := arceeFusionQuantile([]float32{4, 1, 3, 2}, 0.5); got != 2 {
		t.Errorf("lower median = %v, want 2", got)
	}
}

func arceeFusionInputs(rows, cols int, seed uint64) (base, x []float32) {
	r := rand.New(rand.NewPCG(seed, 1))
	base, x = make([]float32, rows*cols), make([]float32, rows*cols)
	for j := range base {
		base[j] = float32(r.NormFloat64())
		// most rows change a little, a few a lot
		scale := 0.01
		if (j/cols)%10 == 0 {
			scale = 0.5
		}
		x[j] = base[j] + float32(scale*r.NormFloat64())
	}
	return base, x
}

func TestArceeFusion(t *testing.T) {
	const rows, cols = 50, 16
	base, x := arceeFusionInputs(rows, cols, 1)
	ts := &Tensors{Name: "w", Work: tensor.F32, Base: 0, Inputs: inputs(make([]map[string]float64, 2), base, x)}
	got, err := runMethodShape(ArceeFusion, ts, rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	// Recompute the threshold by hand: importance = |x−b|·KL per row.
	imp := make([]float64, rows*cols)
	for r := 0; r < rows; r++ {
		p, q := arceeFusionTestSoftmax(x[r*cols:(r+1)*cols]), arceeFusionTestSoftmax(base[r*cols:(r+1)*cols])
		var kl float64
		for k := range p {
			kl += (p[k] + 1e-8) * math.Log((p[k]+1e-8)/(q[k]+1e-8))
		}
		for k := 0; k < cols; k++ {
			imp[r*cols+k] = math.Abs(float64(x[r*cols+k]-base[r*cols+k])) * kl
		}
	}
	sorted := slices.Clone(imp)
	slices.Sort(sorted)
	m := len(sorted) - 1
	thr := sorted[m/2] + 1.5*(sorted[3*m/4]-sorted[m/4])
	swapped := 0
	for j := range got {
		want := base[j]
		if imp[j] >= thr {
			want = base[j] + (x[j] - base[j])
			swapped++
		}
		// only elements at the threshold may differ
		if got[j] != want && math.Abs(imp[j]-thr) > 1e-6*thr {
			t.Fatalf("element %d = %v, want %v (importance %g, threshold %g)", j, got[j], want, imp[j], thr)
		}
	}
	if swapped == 0 || swapped == len(got) {
		t.Errorf("%d of %d elements taken from the other model", swapped, len(got))
	}
}

func arceeFusionTestSoftmax(x []float32) []float64 {
	out := make([]float64, len(x))
	var sum float64
	for k, v := range x {
		out[k] = math.Exp(float64(v))
		sum += out[k]
	}
	for k := range out {
		out[k] /= sum
	}
	return out
}

func TestArceeFusionEdges(t *testing.T) {
	base := []float32{1, 2, 3, 4}
	x := []float32{2, 2, 3, 9}
	one, err := runMethodShape(ArceeFusion, &Tensors{Work: tensor.F32, Base: -1, Inputs: inputs(make([]map[string]float64, 1), x)}, 4)
	if err != nil || !slices.Equal(one, x) {
		t.Errorf("one input: %v, %v", one, err)
	}
	same, err := runMethodShape(ArceeFusion, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(make([]map[string]float64, 2), base, base)}, 4)
	if err != nil || !slices.Equal(same, base) {
		t.Errorf("identical inputs: %v, %v", same, err)
	}
	// bfloat16 work: B + (X − B) is not rounded (mergekit's float32 mask).
	b16 := []float32{1, 1, 1, 1}
	x16 := []float32{1.0078125, 0, 0, 0} // 1 + 2⁻⁷
	got, err := runMethodShape(ArceeFusion, &Tensors{Work: tensor.BF16, Base: 0, Inputs: inputs(make([]map[string]float64, 2), b16, x16)}, 4)
	if err != nil {
		t.Fatal(err)
	}
	for j, v := range got {
		if v != b16[j] && v != x16[j] {
			t.Errorf("element %d = %v, neither base nor other", j, v)
		}
	}
}

// TestArceeFusionSampled runs the sampled-quantile path (over a million
// elements): it must be seeded and keep every element base or other.
func TestArceeFusionSampled(t *testing.T) {
	if testing.Short() {
		t.Skip("large tensor")
	}
	const rows, cols = 1024, 1000
	base, x := arceeFusionInputs(rows, cols, 2)
	run := func(seed uint64) []float32 {
		ts := &Tensors{Name: "w", Work: tensor.F32, Base: 1, Seed: seed, Inputs: inputs(make([]map[string]float64, 2), x, base)}
		got, err := runMethodShape(ArceeFusion, ts, rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a, b := run(1), run(1)
	if !slices.Equal(a, b) {
		t.Error("same seed, different results")
	}
	swapped := 0
	for j, v := range a {
		switch v {
		case base[j]:
		case x[j]:
			swapped++
		default:
			t.Fatalf("element %d = %v, neither base %v nor other %v", j, v, base[j], x[j])
		}
	}
	if swapped == 0 || swapped == len(a) {
		t.Errorf("%d of %d elements taken from the other model", swapped, len(a))
	}
}
