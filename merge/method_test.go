package merge

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func inputs(params []map[string]float64, data ...[]float32) []Input {
	out := make([]Input, len(data))
	for i, d := range data {
		out[i] = Input{Model: string(rune('A' + i)), Data: d, Params: params[i]}
	}
	return out
}

func weights(ws ...float64) []map[string]float64 {
	out := make([]map[string]float64, len(ws))
	for i, w := range ws {
		out[i] = map[string]float64{"weight": w, "density": 1}
	}
	return out
}

func runMethod(t *testing.T, m *Method, ts *Tensors) []float32 {
	t.Helper()
	n := len(ts.Inputs[0].Data)
	ts.Shape = []int64{int64(n)}
	if ts.Global == nil {
		ts.Global = map[string]float64{}
	}
	for _, p := range m.Global {
		if _, ok := ts.Global[p.Name]; !ok {
			ts.Global[p.Name] = p.Default
		}
	}
	if m.TaskVectors {
		// as the executor does; on copies, since tests share their inputs
		ts.Inputs = slices.Clone(ts.Inputs)
		for i := range ts.Inputs {
			ts.Inputs[i].Data = slices.Clone(ts.Inputs[i].Data)
		}
		if err := toTaskVectors(ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]float32, n)
	if err := m.Merge(ts, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func near(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol {
			return false
		}
	}
	return true
}

func TestMethods(t *testing.T) {
	a := []float32{1, 2, 3, -4}
	b := []float32{3, 2, 1, 4}
	base := []float32{1, 1, 1, 1}
	tests := []struct {
		name   string
		m      *Method
		ts     *Tensors
		want   []float32
		global map[string]float64
	}{
		{"linear normalize", Linear, &Tensors{Work: tensor.F32, Base: -1, Inputs: inputs(weights(1, 3), a, b)},
			[]float32{2.5, 2, 1.5, 2}, nil},
		{"linear no normalize", Linear, &Tensors{Work: tensor.F32, Base: -1, Inputs: inputs(weights(1, 3), a, b)},
			[]float32{10, 8, 6, 8}, map[string]float64{"normalize": 0}},
		{"linear one input", Linear, &Tensors{Work: tensor.F32, Base: -1, Inputs: inputs(weights(0.5), a)},
			a, nil},
		{"slerp t=0 is base", Slerp, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(weights(0, 0), a, b)},
			a, map[string]float64{"t": 0}},
		{"slerp t=1 is other", Slerp, &Tensors{Work: tensor.F32, Base: 1, Inputs: inputs(weights(0, 0), a, b)},
			a, map[string]float64{"t": 1}},
		{"slerp parallel is lerp", Slerp, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(weights(0, 0), a, []float32{2, 4, 6, -8})},
			[]float32{1.5, 3, 4.5, -6}, map[string]float64{"t": 0.5}},
		{"slerp single input", Slerp, &Tensors{Work: tensor.F32, Base: -1, Inputs: inputs(weights(0), b)},
			b, map[string]float64{"t": 0.5}},
		{"task arithmetic", TaskArithmetic, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(weights(0, 0.5, 1), base, a, b)},
			[]float32{1 + 0 + 2, 1 + 0.5 + 1, 1 + 1 + 0, 1 - 2.5 + 3}, nil},
		{"task arithmetic lambda", TaskArithmetic, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(weights(0, 1), base, a)},
			[]float32{1, 1.5, 2, -1.5}, map[string]float64{"lambda": 0.5}},
		// TIES without pruning: signs elected per element, agreeing entries
		// averaged by their weights. deltas: a-base = [0,1,2,-5], b-base = [2,1,0,3].
		// weighted (1,1): sum [2,2,2,-2]: element 3 elects -, keeps only -5.
		{"ties consensus", TIES, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(weights(0, 1, 1), base, a, b)},
			[]float32{1 + 2, 1 + 1, 1 + 2, 1 - 5}, nil},
		{"ties no inputs but base", TIES, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(weights(0), base)},
			base, nil},
		{"passthrough", Passthrough, &Tensors{Work: tensor.F32, Base: -1, Inputs: inputs([]map[string]float64{{"scale": math.NaN()}}, a)},
			a, nil},
		{"passthrough scale", Passthrough, &Tensors{Work: tensor.F32, Base: -1, Inputs: inputs([]map[string]float64{{"scale": 0.5}}, a)},
			[]float32{0.5, 1, 1.5, -2}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ts.Global = tc.global
			got := runMethod(t, tc.m, tc.ts)
			if !near(got, tc.want, 1e-6) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLinearBF16Emulation checks the bit-exact recipe the golden README
// gives for mergekit's linear merge in bfloat16:
// p_i = bf16(bf16(w_i)·x_i); s = bf16(p_0 + p_1); out = bf16(s / bf16(bf16(w_0)+bf16(w_1))).
func TestLinearBF16Emulation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 1000
	x0, x1 := make([]float32, n), make([]float32, n)
	for i := range x0 {
		x0[i] = tensor.RoundScalar(tensor.BF16, float32(r.NormFloat64()))
		x1[i] = tensor.RoundScalar(tensor.BF16, float32(r.NormFloat64()))
	}
	ts := &Tensors{Work: tensor.BF16, Base: -1, Inputs: inputs(weights(0.7, 0.3), x0, x1)}
	got := runMethod(t, Linear, ts)
	bf := func(v float32) float32 { return tensor.RoundScalar(tensor.BF16, v) }
	w0, w1 := bf(0.7), bf(0.3)
	for i := range got {
		s := bf(bf(w0*x0[i]) + bf(w1*x1[i]))
		want := bf(s / bf(w0+w1))
		if got[i] != want {
			t.Fatalf("element %d: got %v, want %v", i, got[i], want)
		}
	}
}

func TestKthLargest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 10, 101, 1000} {
		for _, dupes := range []bool{false, true} {
			x := make([]float32, n)
			for i := range x {
				if dupes {
					x[i] = float32(r.IntN(5))
				} else {
					x[i] = r.Float32()
				}
			}
			sorted := slices.Clone(x)
			slices.Sort(sorted)
			slices.Reverse(sorted)
			for _, k := range []int{1, n / 2, n} {
				if k < 1 {
					continue
				}
				if got := kthLargest(slices.Clone(x), k); got != sorted[k-1] {
					t.Errorf("n=%d dupes=%v k=%d: got %v, want %v", n, dupes, k, got, sorted[k-1])
				}
			}
		}
	}
}

func TestSparsifyMagnitude(t *testing.T) {
	tests := []struct {
		name    string
		delta   []float32
		density float64
		rescale bool
		want    []float32
		err     string
	}{
		{"keeps largest", []float32{0.1, -3, 2, -0.5}, 0.5, false, []float32{0, -3, 2, 0}, ""},
		{"ties kept in index order", []float32{1, -1, 1, 1}, 0.5, false, []float32{1, -1, 0, 0}, ""},
		{"density 1 keeps all", []float32{1, 2}, 1, false, []float32{1, 2}, ""},
		{"rescale restores L1", []float32{1, -3, 2, 0}, 0.5, true, []float32{0, -3 * 6.0 / 5, 2 * 6.0 / 5, 0}, ""},
		{"k = 0 is an error", []float32{1}, 0.5, false, nil, "keeps no element"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := &Tensors{Name: "x", Work: tensor.F32, Global: map[string]float64{"rescale": b2f(tc.rescale)},
				Inputs: []Input{{Params: map[string]float64{"density": tc.density}}}}
			d := slices.Clone(tc.delta)
			err := sparsifyMagnitude(ts, 0, d)
			checkMerge(t, d, err, tc.want, tc.err, 1e-6)
		})
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestKeepTopK(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 7, 100, 5000} {
		for _, dupes := range []bool{false, true} {
			x := make([]float32, n)
			for i := range x {
				if dupes {
					x[i] = float32(r.IntN(7) - 3)
				} else {
					x[i] = float32(r.NormFloat64())
				}
			}
			for _, k := range []int{1, (n + 1) / 2, n} {
				got := slices.Clone(x)
				if err := keepTopK(tensor.CPU, got, k); err != nil {
					t.Fatal(err)
				}
				// reference: stable sort of indices by descending magnitude
				idx := make([]int, n)
				for i := range idx {
					idx[i] = i
				}
				slices.SortStableFunc(idx, func(a, b int) int {
					ma, mb := math.Abs(float64(x[a])), math.Abs(float64(x[b]))
					switch {
					case ma > mb:
						return -1
					case ma < mb:
						return 1
					}
					return 0
				})
				want := make([]float32, n)
				for _, i := range idx[:k] {
					want[i] = x[i]
				}
				if !slices.Equal(got, want) {
					t.Fatalf("n=%d dupes=%v k=%d:\ngot  %v\nwant %v", n, dupes, k, got, want)
				}
			}
		}
	}
}

// checkMerge fails the test unless err matches wantErr (a substring of the
// message; "" means no error) and, without an error, got is within tol of
// want.
func checkMerge(t *testing.T, got []float32, err error, want []float32, wantErr string, tol float64) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !near(got, want, tol) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestStreamedPruningMatchesWhole checks that magnitude pruning streamed
// through Analyze passes keeps exactly the elements whole-tensor pruning
// keeps, ties included.
func TestStreamedPruningMatchesWhole(t *testing.T) {
	dir := tinyModels(t)
	for _, c := range []struct {
		m            *Method
		name, global string
	}{{TIES, "", ""}, {TaskArithmetic, "", ""}, {DARETIES, "", ""}, {DARELinear, "", ""}, {Breadcrumbs, "", ""},
		{BreadcrumbsTIES, "", ""}, {ModelStock, "", ""}, {ModelStock, " filter_wise", "parameters: {filter_wise: true}\n"},
		{DELLA, "", ""}, {DELLALinear, "", ""}} {
		m := c.m
		t.Run(m.Name+c.name, func(t *testing.T) {
			yml := "merge_method: " + m.Name + "\nbase_model: base\ndtype: bfloat16\n" + c.global + "models:\n" +
				"  - model: ft1\n    parameters: {weight: 0.6, density: 0.3, gamma: 0.1}\n" +
				"  - model: ft2\n    parameters: {weight: 0.4, density: 0.7, gamma: 0.05}\n"
			if !strings.HasPrefix(m.Name, "breadcrumbs") {
				yml = strings.ReplaceAll(yml, ", gamma: 0.1", "")
				yml = strings.ReplaceAll(yml, ", gamma: 0.05", "")
			}
			defer func(n int64) { chunkElements = n }(chunkElements)
			chunkElements = 1000
			// Every run draws the same random masks.
			seeded := Options{Seed: new(uint64(0))}
			streamed := filepath.Join(t.TempDir(), "streamed")
			if _, err := runYAML(t, dir, yml, streamed, seeded); err != nil {
				t.Fatal(err)
			}
			if m == TIES || m == TaskArithmetic {
				// The same with the sample's window missing the threshold
				// (above it, below it), with inputs mapped, and with no
				// sample (inputs held): the full histogram decides.
				for _, c := range []struct {
					name   string
					lo, hi uint32
					access inputAccess
				}{
					{"window above", 0x7f00 << 16, 0x7f04 << 16, accessReread}, {"window below", 0, 0, accessReread},
					{"mapped", 0, 0, accessMap}, {"held", 0, 0, accessCopy},
				} {
					defer func(f func([]float32, int, int64) (uint32, uint32), v inputAccess) { chooseWindow, heldAccess = f, v }(chooseWindow, heldAccess)
					if c.lo != 0 || c.name == "window below" {
						chooseWindow = func([]float32, int, int64) (uint32, uint32) { return c.lo, c.hi }
					}
					heldAccess = c.access
					other := filepath.Join(t.TempDir(), "other")
					if _, err := runYAML(t, dir, yml, other, seeded); err != nil {
						t.Fatal(err)
					}
					sameTensors(t, streamed, other)
				}
			}
			if m.StoredBF16 {
				// The same from task vectors in float32 buffers, not the
				// stored bytes.
				m.StoredBF16 = false
				other := filepath.Join(t.TempDir(), "unstored")
				_, err := runYAML(t, dir, yml, other, seeded)
				m.StoredBF16 = true
				if err != nil {
					t.Fatal(err)
				}
				sameTensors(t, streamed, other)
			}
			analyze := m.Analyze
			m.Analyze = nil
			defer func() { m.Analyze = analyze }()
			whole := filepath.Join(t.TempDir(), "whole")
			if _, err := runYAML(t, dir, yml, whole, seeded); err != nil {
				t.Fatal(err)
			}
			if UsesRandomness(m) {
				// Same masks; the L1 sums associate per piece, so the
				// rescale factor may differ in its last bit.
				a, _ := readAll(t, streamed)
				b, _ := readAll(t, whole)
				for name, va := range a {
					for j, x := range va {
						y := b[name][j]
						if math.Abs(x-y) > 1e-2*math.Abs(y) {
							t.Fatalf("%s[%d]: streamed %v, whole %v", name, j, x, y)
						}
					}
				}
				return
			}
			sameTensors(t, streamed, whole)
		})
	}
}
