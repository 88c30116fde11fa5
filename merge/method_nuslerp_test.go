package merge

import (
	"math"
	"slices"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// runMethodShape is runMethod for a given shape; it returns the error.
func runMethodShape(m *Method, ts *Tensors, shape ...int64) ([]float32, error) {
	ts.Shape = shape
	g := map[string]float64{}
	for _, p := range m.Global {
		g[p.Name] = p.Default
	}
	for k, v := range ts.Global {
		g[k] = v
	}
	ts.Global = g
	if m.TaskVectors {
		// as the executor does; on copies, since tests share their inputs
		ts.Inputs = slices.Clone(ts.Inputs)
		for i := range ts.Inputs {
			ts.Inputs[i].Data = slices.Clone(ts.Inputs[i].Data)
		}
		if err := toTaskVectors(ts, nil); err != nil {
			return nil, err
		}
	}
	out := make([]float32, numElements(shape))
	return out, m.Merge(ts, out)
}

func TestNuSlerp(t *testing.T) {
	const h = math.Sqrt2 / 2
	x := []float32{1, 0, 0, 1}
	y := []float32{0, 1, 0, 2}
	tests := []struct {
		name   string
		ts     *Tensors
		global map[string]float64
		shape  []int64
		want   []float32
		err    string
	}{
		{"t=0 gives A", &Tensors{Base: -1, Inputs: inputs(weights(1, 0), x, y)}, nil, []int64{4}, x, ""},
		{"t=1 gives C", &Tensors{Base: -1, Inputs: inputs(weights(0, 2), x, y)}, nil, []int64{4}, y, ""},
		{"orthogonal halfway", &Tensors{Base: -1, Inputs: inputs(weights(1, 1), []float32{1, 0}, []float32{0, 1})}, nil, []int64{2},
			[]float32{h, h}, ""},
		{"zero weight sum means t=0.5", &Tensors{Base: -1, Inputs: inputs(weights(1, -1), []float32{1, 0}, []float32{0, 1})}, nil, []int64{2},
			[]float32{h, h}, ""},
		{"parallel is lerp", &Tensors{Base: -1, Inputs: inputs(weights(1, 1), []float32{1, 2}, []float32{2, 4})}, nil, []int64{2},
			[]float32{1.5, 3}, ""},
		// Rows: [1,0]→[0,1] slerps; [0,1]→[0,2] is parallel, so lerps.
		{"per row", &Tensors{Base: -1, Inputs: inputs(weights(1, 1), x, y)}, map[string]float64{"nuslerp_flatten": 0}, []int64{2, 2},
			[]float32{h, h, 0, 1.5}, ""},
		// Columns: [1,0]→[0,0] (zero vector: θ = π/2, so S = sin(π/4)·v0) and [0,1]→[1,2].
		{"per column", &Tensors{Base: -1, Inputs: inputs(weights(1, 1), x, y)}, map[string]float64{"nuslerp_flatten": 0, "nuslerp_row_wise": 1}, []int64{2, 2},
			nuslerpColumns(x, y), ""},
		{"with base", &Tensors{Base: 0, Inputs: inputs(weights(0, 1, 1), []float32{1, 1}, []float32{2, 1}, []float32{1, 2})}, nil, []int64{2},
			[]float32{1 + h, 1 + h}, ""},
		{"one input", &Tensors{Base: -1, Inputs: inputs(weights(1), y)}, nil, []int64{4}, y, ""},
		{"base plus one", &Tensors{Base: 0, Inputs: inputs(weights(0, 1), x, y)}, nil, []int64{4}, nil, "two other models"},
		{"three without base", &Tensors{Base: -1, Inputs: inputs(weights(1, 1, 1), x, y, x)}, nil, []int64{4}, nil, "exactly two models"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ts.Work, tc.ts.Global = tensor.F32, tc.global
			got, err := runMethodShape(NuSlerp, tc.ts, tc.shape...)
			checkMerge(t, got, err, tc.want, tc.err, 1e-6)
		})
	}
}

// nuslerpColumns works the per-column case out by hand from 2×2 x and y.
func nuslerpColumns(x, y []float32) []float32 {
	out := make([]float32, 4)
	for col := 0; col < 2; col++ {
		v0 := []float32{x[col], x[2+col]}
		v1 := []float32{y[col], y[2+col]}
		res := make([]float32, 2)
		nuslerpVector(tensor.F32, 0.5, v0, v1, res)
		out[col], out[2+col] = res[0], res[1]
	}
	return out
}

func TestNuSlerpPairBF16(t *testing.T) {
	// Every result is a bfloat16 value.
	v0 := []float32{0.3, -0.7, 1.1, 0.05}
	v1 := []float32{-0.2, 0.9, 0.4, 0.6}
	tensor.Round(tensor.BF16, v0)
	tensor.Round(tensor.BF16, v1)
	res := make([]float32, 4)
	nuslerpVector(tensor.BF16, 0.3, v0, v1, res)
	for _, v := range res {
		if tensor.RoundScalar(tensor.BF16, v) != v {
			t.Fatalf("%v is not a bfloat16 value", v)
		}
	}
}
