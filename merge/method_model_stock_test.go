package merge

import (
	"math"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestModelStock(t *testing.T) {
	s3 := float32(math.Sqrt(3) / 2)
	none := func(n int) []map[string]float64 { return make([]map[string]float64, n) }
	tests := []struct {
		name   string
		data   [][]float32 // base first
		shape  []int64
		global map[string]float64
		want   []float32
		err    string
	}{
		{"only the base", [][]float32{{1, 2}}, []int64{2}, nil, []float32{1, 2}, ""},
		{"too few models", [][]float32{{1, 2}, {2, 3}}, []int64{2}, nil, nil, "at least 3 models"},
		// Orthogonal task vectors: c = 0, t = 0: the base.
		{"orthogonal", [][]float32{{1, 1}, {2, 1}, {1, 2}}, []int64{2}, nil, []float32{1, 1}, ""},
		// Equal task vectors: c = 1, t = 1: the average.
		{"parallel", [][]float32{{1, 1}, {2, 1}, {2, 1}}, []int64{2}, nil, []float32{2, 1}, ""},
		// c = 0.5, N = 2: t = 1/1.5; R = ⅔·mean + ⅓·base.
		{"60 degrees", [][]float32{{1, 1}, {2, 1}, {1.5, 1 + s3}}, []int64{2}, nil,
			[]float32{2.0/3*1.75 + 1.0/3, 2.0/3*(1+s3/2) + 1.0/3}, ""},
		// Per row: row 0 orthogonal (base), row 1 parallel (average).
		{"filter-wise", [][]float32{{1, 1, 0, 0}, {2, 1, 1, 1}, {1, 2, 1, 1}}, []int64{2, 2}, map[string]float64{"filter_wise": 1},
			[]float32{1, 1, 1, 1}, ""},
		// The same tensor flattened: offsets (1,0,1,1), (0,1,1,1), c = 2/3.
		{"flattened", [][]float32{{1, 1, 0, 0}, {2, 1, 1, 1}, {1, 2, 1, 1}}, []int64{2, 2}, nil,
			modelStockWant([]float32{1, 1, 0, 0}, []float32{1.5, 1.5, 1, 1}, 2.0/3, 2), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := &Tensors{Name: "w", Work: tensor.F32, Base: 0, Inputs: inputs(none(len(tc.data)), tc.data...), Global: tc.global}
			got, err := runMethodShape(ModelStock, ts, tc.shape...)
			checkMerge(t, got, err, tc.want, tc.err, 1e-6)
		})
	}
}

func modelStockWant(base, mean []float32, c float64, n float64) []float32 {
	r := n * c / (1 + (n-1)*c)
	out := make([]float32, len(base))
	for j := range out {
		out[j] = float32(r*float64(mean[j]) + (1-r)*float64(base[j]))
	}
	return out
}
