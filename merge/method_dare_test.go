package merge

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestSparsifyRandom(t *testing.T) {
	const n = 1 << 16
	delta := make([]float32, n)
	for j := range delta {
		delta[j] = float32(j%7) - 3
	}
	run := func(density float64, rescale bool, model string, work tensor.DType) ([]float32, error) {
		ts := &Tensors{Name: "x", Work: work, Seed: 1, Global: map[string]float64{"rescale": b2f(rescale)},
			Inputs: []Input{{Model: model, Params: map[string]float64{"density": density}}}}
		d := slices.Clone(delta)
		return d, sparsifyRandom(ts, 0, d)
	}
	kept := func(d []float32) float64 {
		k, nz := 0, 0
		for j, v := range d {
			if delta[j] != 0 {
				nz++
				if v != 0 {
					k++
				}
			}
		}
		return float64(k) / float64(nz)
	}
	t.Run("density 1 keeps all", func(t *testing.T) {
		d, _ := run(1, true, "m", tensor.F32)
		if !slices.Equal(d, delta) {
			t.Error("changed")
		}
	})
	t.Run("density 0 drops all", func(t *testing.T) {
		d, _ := run(0, true, "m", tensor.F32)
		if slices.ContainsFunc(d, func(v float32) bool { return v != 0 }) {
			t.Error("kept something")
		}
	})
	t.Run("negative density", func(t *testing.T) {
		if _, err := run(-0.1, true, "m", tensor.F32); err == nil || !strings.Contains(err.Error(), "probability") {
			t.Errorf("err = %v", err)
		}
	})
	for _, density := range []float64{0.1, 0.5, 0.9} {
		d, _ := run(density, false, "m", tensor.F32)
		if got := kept(d); math.Abs(got-density) > 0.01 {
			t.Errorf("density %v: kept %v", density, got)
		}
		for j, v := range d {
			if v != 0 && v != delta[j] {
				t.Fatalf("density %v without rescale changed a kept value", density)
			}
		}
	}
	t.Run("rescale restores L1", func(t *testing.T) {
		for _, work := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
			d, _ := run(0.3, true, "m", work)
			if got, want := tensor.SumAbs(d), tensor.SumAbs(delta); math.Abs(got-want) > 0.01*want {
				t.Errorf("%v: L1 %v, want %v", work, got, want)
			}
			r := slices.Clone(d)
			tensor.Round(work, r)
			if !slices.Equal(r, d) {
				t.Errorf("%v: result not in the working dtype", work)
			}
		}
	})
	t.Run("seeded per model", func(t *testing.T) {
		a, _ := run(0.5, false, "m", tensor.F32)
		b, _ := run(0.5, false, "m", tensor.F32)
		c, _ := run(0.5, false, "other", tensor.F32)
		if !slices.Equal(a, b) {
			t.Error("same seed and model, different masks")
		}
		if slices.Equal(a, c) {
			t.Error("two models, same mask")
		}
	})
}

func TestDARE(t *testing.T) {
	base := []float32{1, 1, 1, 1}
	a := []float32{2, 0, 1, 3}
	b := []float32{0, 2, 1, 3}
	tests := []struct {
		name   string
		m      *Method
		params []map[string]float64
		data   [][]float32
		global map[string]float64
		want   []float32
	}{
		// density 1 is plain task arithmetic / TIES.
		{"dare_linear density 1", DARELinear, weights(0, 0.5, 1), [][]float32{base, a, b}, nil,
			[]float32{1 + 0.5 - 1, 1 - 0.5 + 1, 1, 1 + 1 + 2}},
		{"dare_ties density 1", DARETIES, weights(0, 1, 1), [][]float32{base, a, b}, nil,
			[]float32{1 + 1, 1 + 1, 1, 1 + 4}},
		{"dare_ties density 1 normalize", DARETIES, weights(0, 1, 1), [][]float32{base, a, b}, map[string]float64{"normalize": 1},
			[]float32{2, 2, 1, 3}},
		{"empty task vectors", DARETIES, []map[string]float64{{}, {"weight": 1, "density": 0.5}}, [][]float32{base, base}, nil, base},
		{"only the base", DARELinear, weights(0), [][]float32{base}, nil, base},
		// weights summing to 0: the divisor falls back to 1.
		{"zero weight sum", DARELinear, weights(0, 1, -1), [][]float32{base, a, b}, map[string]float64{"normalize": 1},
			[]float32{1 + 2, 1 - 2, 1, 1}},
		{"density 0 drops everything", DARELinear, []map[string]float64{{}, {"weight": 1, "density": 0}}, [][]float32{base, a}, nil, base},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runMethod(t, tc.m, &Tensors{Work: tensor.F32, Base: 0, Seed: 1, Inputs: inputs(tc.params, tc.data...), Global: tc.global})
			if !near(got, tc.want, 1e-6) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
