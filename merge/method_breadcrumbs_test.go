package merge

import (
	"slices"
	"sort"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestSparsifyMagnitudeOutliers(t *testing.T) {
	ten := []float32{3, -10, 1, 7, -5, 2, 9, -4, 8, 6} // magnitudes 1…10
	ones := []float32{1, -1, 1, 1}
	sixtyFour := make([]float32, 64)
	for j := range sixtyFour {
		sixtyFour[j] = float32(j + 1)
	}
	tests := []struct {
		name           string
		delta          []float32
		density, gamma float64
		rescale        bool
		want           []float32
	}{
		// n_keep 5, n_top 1, n_bot 4: ranks 4…8 (magnitudes 5…9) stay.
		{"drops smallest and largest", ten, 0.5, 0.1, false, []float32{0, 0, 0, 7, -5, 0, 9, 0, 8, 6}},
		// n_keep 9, n_top 2 → n_bot −1: n_top 1, n_bot 0.
		{"n_bot < 0 shrinks n_top", ten, 0.9, 0.2, false, []float32{3, 0, 1, 7, -5, 2, 9, -4, 8, 6}},
		// n_top = 0: indices[1:-0] is empty, mergekit drops everything.
		{"gamma·n < 1 drops the delta", ten, 0.9, 0.05, false, make([]float32, 10)},
		{"gamma 0 drops the delta", ten, 0.5, 0, false, make([]float32, 10)},
		{"64-element norm with gamma 0.01", sixtyFour, 0.9, 0.01, false, make([]float32, 64)},
		// ties ranked in index order: ranks 1…2 are indices 1 and 2.
		{"ties in index order", ones, 0.5, 0.25, false, []float32{0, -1, 1, 0}},
		{"density 1 keeps all", ten, 1, 0.1, false, ten},
		// kept L1 5+6+7+8+9 = 35 of 55.
		{"rescale", ten, 0.5, 0.1, true, []float32{0, 0, 0, 7 * 55.0 / 35, -5 * 55.0 / 35, 0, 9 * 55.0 / 35, 0, 8 * 55.0 / 35, 6 * 55.0 / 35}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := &Tensors{Name: "x", Work: tensor.F32, Global: map[string]float64{"rescale": b2f(tc.rescale)},
				Inputs: []Input{{Params: map[string]float64{"density": tc.density, "gamma": tc.gamma}}}}
			d := slices.Clone(tc.delta)
			if err := sparsifyMagnitudeOutliers(ts, 0, d); err != nil {
				t.Fatal(err)
			}
			if !near(d, tc.want, 1e-5) {
				t.Errorf("got %v, want %v", d, tc.want)
			}
		})
	}
}

func TestMagnitudeOutliersSlice(t *testing.T) {
	tests := []struct{ n, start, stop, lo, hi int }{
		{10, 4, -1, 4, 9},
		{10, 1, 0, 1, 0}, // [1:-0] is empty
		{10, 0, -10, 0, 0},
		{10, 12, -1, 10, 9},
		{10, 0, 3, 0, 3}, // a negative gamma gives a positive stop
	}
	for _, tc := range tests {
		if lo, hi := magnitudeOutliersSlice(tc.n, tc.start, tc.stop); lo != tc.lo || hi != tc.hi {
			t.Errorf("[%d:%d] of %d = [%d, %d), want [%d, %d)", tc.start, tc.stop, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestBreadcrumbs(t *testing.T) {
	base := []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	a := []float32{3, -10, 1, 7, -5, 2, 9, -4, 8, 6}
	b := []float32{-3, 10, -1, -7, 5, -2, -9, 4, -8, 6}
	p := func(w float64) map[string]float64 {
		return map[string]float64{"weight": w, "density": 0.5, "gamma": 0.1}
	}
	tests := []struct {
		name string
		m    *Method
		data [][]float32
		want []float32
	}{
		{"breadcrumbs", Breadcrumbs, [][]float32{base, a}, []float32{0, 0, 0, 3.5, -2.5, 0, 4.5, 0, 4, 3}},
		{"empty task vector", Breadcrumbs, [][]float32{base, base}, base},
		// Both keep magnitudes 5…9; b's larger weight elects its signs
		// except where a alone survives (none) or both agree (index 9).
		{"breadcrumbs_ties", BreadcrumbsTIES, [][]float32{base, a, b}, []float32{0, 0, 0, -7 * 0.75, 5 * 0.75, 0, -9 * 0.75, 0, -8 * 0.75, 6 * 1.25}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := []map[string]float64{{}, p(0.5), p(0.75)}[:len(tc.data)]
			got := runMethod(t, tc.m, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(params, tc.data...)})
			if !near(got, tc.want, 1e-6) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMagnitudeOutliersKeepRanks checks the radix selection against a
// stable sort by magnitude, on tensors with many equal magnitudes (a
// handful of distinct values) and sizes that split into parallel blocks.
func TestMagnitudeOutliersKeepRanks(t *testing.T) {
	r := newRandomSource(3, "outliers")
	for _, n := range []int{1, 7, 1000, 300_000} {
		for _, distinct := range []uint32{3, 1 << 20} {
			x := make([]float32, n)
			for j := range x {
				x[j] = float32(r.uint32()%distinct) / 7
				if r.uint32()%2 == 0 {
					x[j] = -x[j]
				}
			}
			order := make([]int, n)
			for j := range order {
				order[j] = j
			}
			sort.SliceStable(order, func(a, b int) bool { return abs32(x[order[a]]) < abs32(x[order[b]]) })
			for _, lh := range [][2]int{{0, n / 2}, {n / 3, n - n/10}, {n / 2, n}, {n - 1, n}, {0, 1}} {
				lo, hi := lh[0], lh[1]
				want := make([]float32, n)
				for rank, j := range order {
					if rank >= lo && rank < hi {
						want[j] = x[j]
					}
				}
				got := slices.Clone(x)
				magnitudeOutliersKeep(got, lo, hi, false)
				if !slices.Equal(got, want) {
					t.Fatalf("n %d, %d distinct, ranks [%d, %d): kept entries differ from a stable sort", n, distinct, lo, hi)
				}
			}
		}
	}
}
