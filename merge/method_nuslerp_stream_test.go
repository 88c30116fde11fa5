package merge

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// TestNuSlerpRowsStreamedMatchesWhole checks that row-by-row nuslerp
// (nuslerp_flatten off), streamed in pieces of whole rows, writes the
// bytes of the whole-tensor path for several thread counts: with and
// without a base, in float32 and bfloat16, with an embedding vocabulary
// mismatch, and with the flags that keep the whole-tensor path.
func TestNuSlerpRowsStreamedMatchesWhole(t *testing.T) {
	dir := tinyModels(t)
	defer func(n int64) { chunkElements = n }(chunkElements)
	chunkElements = 1000
	for _, c := range []struct{ name, yml string }{
		{"rows base", "base_model: base\nparameters: {nuslerp_flatten: false}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 0.7}\n  - model: ft2\n    parameters: {weight: 0.3}\n"},
		{"rows no base bf16", "dtype: bfloat16\nparameters: {nuslerp_flatten: false}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 1}\n  - model: ft2\n    parameters: {weight: 2}\n"},
		{"rows zero weights parallel", "parameters: {nuslerp_flatten: false}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 0}\n  - model: ft1_bf16\n    parameters: {weight: 0}\n"},
		{"rows vocab mismatch", "parameters: {nuslerp_flatten: false}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 0.4}\n  - model: bigvocab\n    parameters: {weight: 0.6}\n"},
		{"row_wise", "base_model: base\nparameters: {nuslerp_flatten: false, nuslerp_row_wise: true}\n" +
			"models:\n  - model: ft1\n    parameters: {weight: 0.7}\n  - model: ft2\n    parameters: {weight: 0.3}\n"},
		{"flatten", "models:\n  - model: ft1\n    parameters: {weight: 0.7}\n  - model: ft2\n    parameters: {weight: 0.3}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			yml := "merge_method: nuslerp\n" + c.yml
			run := func(name string, threads int) string {
				out := filepath.Join(t.TempDir(), name)
				if _, err := runYAML(t, dir, yml, out, Options{Threads: threads}); err != nil {
					t.Fatal(err)
				}
				return out
			}
			analyze := NuSlerp.Analyze
			NuSlerp.Analyze = nil
			whole := run("whole", 1)
			NuSlerp.Analyze = analyze
			for _, threads := range []int{1, 2, 3} {
				t.Run(fmt.Sprint("j", threads), func(t *testing.T) {
					sameTensors(t, whole, run("streamed", threads))
				})
			}
		})
	}
}

// oddModels writes models whose tensor sizes are not multiples of 16 or
// 4 (hidden 54, intermediate 131, vocabulary 259), so that the pieces of
// a flattened tensor end in every kind of tail: base, ft1, ft2 in
// float32, their bfloat16 versions, base2 (= base: zero task vectors),
// ft1c (= ft1: parallel vectors) and bigvocab (263 tokens).
func oddModels(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	odd := func(s testmodel.Spec) testmodel.Spec {
		s.Hidden, s.Intermediate, s.Heads, s.KVHeads, s.Layers, s.Seed = 54, 131, 6, 2, 2, 1
		if s.Vocab == 0 {
			s.Vocab = 259
		}
		return s
	}
	for name, s := range map[string]testmodel.Spec{
		"base":     {},
		"base2":    {},
		"ft1":      {Delta: 0.01, DeltaSeed: 2},
		"ft1c":     {Delta: 0.01, DeltaSeed: 2},
		"ft2":      {Delta: 0.01, DeltaSeed: 3},
		"base_b":   {DType: tensor.BF16},
		"ft1_b":    {Delta: 0.01, DeltaSeed: 2, DType: tensor.BF16},
		"ft2_b":    {Delta: 0.01, DeltaSeed: 3, DType: tensor.BF16},
		"bigvocab": {Delta: 0.01, DeltaSeed: 4, Vocab: 263},
	} {
		if err := testmodel.Write(filepath.Join(dir, name), odd(s)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestNuSlerpFlatStreamedMatchesWhole checks that flattened nuslerp (the
// default) and column-wise nuslerp (nuslerp_row_wise), streamed in three
// passes over pieces, write the bytes of the whole-tensor path on odd
// shapes, for several piece sizes and thread counts, with the inputs
// mapped and read: with and without a base, in float32 and bfloat16, with
// zero task vectors (norm clamped to 1e-7), parallel vectors (the linear
// fallback), an embedding vocabulary mismatch, and rows.
func TestNuSlerpFlatStreamedMatchesWhole(t *testing.T) {
	dir := oddModels(t)
	defer func(n int64) { chunkElements = n }(chunkElements)
	defer func(v inputAccess) { heldAccess = v }(heldAccess)
	two := func(a, c string, wa, wc float64) string {
		return fmt.Sprintf("models:\n  - model: %s\n    parameters: {weight: %v}\n  - model: %s\n    parameters: {weight: %v}\n", a, wa, c, wc)
	}
	for _, c := range []struct{ name, yml string }{
		{"base f32", "base_model: base\n" + two("ft1", "ft2", 0.7, 0.3)},
		{"base bf16", "base_model: base_b\ndtype: bfloat16\n" + two("ft1_b", "ft2_b", 0.4, 0.6)},
		{"base bf16 from f32", "base_model: base\ndtype: bfloat16\nout_dtype: float32\n" + two("ft1", "ft2", 0.4, 0.6)},
		{"no base bf16", "dtype: bfloat16\n" + two("ft1", "ft2_b", 1, 2)},
		{"no base f32", two("ft1", "ft2", 0.25, 0.5)},
		{"zero task vector", "base_model: base\n" + two("base2", "ft1", 0.5, 0.5)},
		{"parallel zero weights", two("ft1", "ft1c", 0, 0)},
		{"parallel bf16", "dtype: bfloat16\n" + two("ft1", "ft1c", 0.3, 0.7)},
		{"vocab mismatch", two("ft1", "bigvocab", 0.4, 0.6)},
		{"rows", "base_model: base\nparameters: {nuslerp_flatten: false}\n" + two("ft1", "ft2", 0.7, 0.3)},
		{"row_wise", "base_model: base\nparameters: {nuslerp_flatten: false, nuslerp_row_wise: true}\n" + two("ft1", "ft2", 0.7, 0.3)},
		{"row_wise no base bf16", "dtype: bfloat16\nparameters: {nuslerp_flatten: false, nuslerp_row_wise: true}\n" + two("ft1_b", "ft2", 0.2, 0.6)},
		{"row_wise zero and parallel", "base_model: base\nparameters: {nuslerp_flatten: false, nuslerp_row_wise: true}\n" + two("base2", "ft1", 0, 0)},
		{"row_wise vocab mismatch", "parameters: {nuslerp_flatten: false, nuslerp_row_wise: true}\n" + two("ft1", "bigvocab", 0.4, 0.6)},
	} {
		t.Run(c.name, func(t *testing.T) {
			yml := "merge_method: nuslerp\n" + c.yml
			run := func(name string, threads int) string {
				out := filepath.Join(t.TempDir(), name)
				if _, err := runYAML(t, dir, yml, out, Options{Threads: threads}); err != nil {
					t.Fatal(err)
				}
				return out
			}
			analyze := NuSlerp.Analyze
			defer func() { NuSlerp.Analyze = analyze }()
			NuSlerp.Analyze = nil
			chunkElements, heldAccess = 1<<18, accessReread
			whole := run("whole", 1)
			var flat atomic.Int64
			NuSlerp.Analyze = func(t *Tensors) (Analysis, error) {
				an, err := analyze(t)
				if _, ok := an.(*nuslerpFlatAnalysis); ok {
					flat.Add(1)
				}
				return an, err
			}
			for _, chunk := range []int64{100, 1000} {
				for _, access := range []inputAccess{accessReread, accessMap, accessCopy} {
					for _, threads := range []int{1, 2, 3} {
						t.Run(fmt.Sprintf("chunk%d %v j%d", chunk, access, threads), func(t *testing.T) {
							chunkElements, heldAccess = chunk, access
							sameTensors(t, whole, run("streamed", threads))
						})
					}
				}
			}
			if flat.Load() == 0 {
				t.Error("no tensor was streamed flattened")
			}
		})
	}
}

// readF32 reads tensor name of the model in dir as float32s.
func readF32(t *testing.T, dir, name string) []float32 {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info, ok := m.Tensor(name)
	if !ok {
		t.Fatalf("%s has no %s", dir, name)
	}
	raw := make([]byte, info.Size)
	if err := m.ReadTensor(name, raw); err != nil {
		t.Fatal(err)
	}
	dt, err := tensor.ParseDType(string(info.DType))
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, info.Size/int64(dt.Size()))
	if err := tensor.Decode(x, raw, dt); err != nil {
		t.Fatal(err)
	}
	return x
}

// TestNuSlerpFlatSumsInOrder checks the sums the streamed passes gather
// (sums of squares and the dot product, as float64 bits) against the
// whole-tensor path's, for several piece sizes and thread counts: their
// order of addition rarely shows in the output bytes, so comparing the
// outputs alone would not catch a piece added out of turn.
func TestNuSlerpFlatSumsInOrder(t *testing.T) {
	dir := oddModels(t)
	defer func(n int64) { chunkElements = n }(chunkElements)
	yml := "merge_method: nuslerp\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 0.7}\n" +
		"  - model: ft2\n    parameters: {weight: 0.3}\n"
	analyze := NuSlerp.Analyze
	defer func() { NuSlerp.Analyze = analyze }()
	for _, chunk := range []int64{48, 100, 1000} {
		for _, threads := range []int{1, 3} {
			t.Run(fmt.Sprintf("chunk%d j%d", chunk, threads), func(t *testing.T) {
				chunkElements = chunk
				var mu sync.Mutex
				got := map[string]*nuslerpFlatAnalysis{}
				NuSlerp.Analyze = func(t *Tensors) (Analysis, error) {
					an, err := analyze(t)
					if fl, ok := an.(*nuslerpFlatAnalysis); ok {
						mu.Lock()
						got[t.Name] = fl
						mu.Unlock()
					}
					return an, err
				}
				if _, err := runYAML(t, dir, yml, filepath.Join(t.TempDir(), "out"), Options{Threads: threads}); err != nil {
					t.Fatal(err)
				}
				if len(got) == 0 {
					t.Fatal("no tensor was streamed flattened")
				}
				for name, fl := range got {
					base := readF32(t, filepath.Join(dir, "base"), name)
					v0, v1 := readF32(t, filepath.Join(dir, "ft1"), name), readF32(t, filepath.Join(dir, "ft2"), name)
					tensor.SubRound(tensor.F32, v0, v0, base)
					tensor.SubRound(tensor.F32, v1, v1, base)
					for i, v := range [][]float32{v0, v1} {
						if g, w := fl.sq[i].Sum(), tensor.SumSquares(v); math.Float64bits(g) != math.Float64bits(w) {
							t.Errorf("%s: sum of squares %d = %v, whole %v", name, i, g, w)
						}
					}
					n0, n1 := nuslerpNorm(tensor.F32, tensor.SumSquares(v0)), nuslerpNorm(tensor.F32, tensor.SumSquares(v1))
					terms := make([]float32, len(v0))
					nuslerpTerms(tensor.F32, terms, v0, v1, n0, n1)
					if g, w := fl.dot, sumInOrder(0, terms); math.Float64bits(g) != math.Float64bits(w) {
						t.Errorf("%s: dot %v, whole %v", name, g, w)
					}
				}
			})
		}
	}
}

// TestNuSlerpFlatAnalysisPieces feeds nuslerpFlatAnalysis vectors whose
// elements span 2^-40 to 2^20, where the order of every float64 addition
// shows, in pieces of whole blocks, and checks its sums and coefficients
// against the whole-vector path's bits.
func TestNuSlerpFlatAnalysisPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	wide := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Ldexp(r.NormFloat64(), r.IntN(61)-40))
		}
		return x
	}
	for _, work := range []tensor.DType{tensor.F32, tensor.BF16} {
		for _, n := range []int{1, 15, 16, 17, 35, 333, 4099} {
			v0, v1 := wide(n), wide(n)
			tensor.Round(work, v0)
			tensor.Round(work, v1)
			n0, n1 := nuslerpNorm(work, tensor.SumSquares(v0)), nuslerpNorm(work, tensor.SumSquares(v1))
			terms := make([]float32, n)
			nuslerpTerms(work, terms, v0, v1, n0, n1)
			want := newNuslerpCoefs(work, 0.3, sumInOrder(0, terms))
			for _, piece := range []int{16, 48, 1024} {
				an := &nuslerpFlatAnalysis{work: work, a: 0, c: 1, frac: 0.3}
				for pass := 0; ; pass++ {
					for off := 0; off < n; off += piece {
						end := min(n, off+piece)
						ts := &Tensors{Work: work, Pass: pass, Inputs: []Input{{Data: v0[off:end]}, {Data: v1[off:end]}}}
						if err := an.Piece(ts); err != nil {
							t.Fatal(err)
						}
					}
					if more, err := an.EndPass(pass); err != nil || !more {
						break
					}
				}
				if an.n0 != n0 || an.n1 != n1 || math.Float64bits(an.dot) != math.Float64bits(sumInOrder(0, terms)) || an.k != want {
					t.Errorf("%v n=%d pieces of %d: norms %v %v dot %v coefs %+v; whole %v %v %v %+v",
						work, n, piece, an.n0, an.n1, an.dot, an.k, n0, n1, sumInOrder(0, terms), want)
				}
			}
		}
	}
}

// TestNuSlerpColAnalysisPieces is TestNuSlerpFlatAnalysisPieces for the
// columns of nuslerp_row_wise: matrices of widely spread values handed
// over in runs of whole rows, every column's norms, dot product and
// coefficients against the gathered column's, and the merged pieces
// against the whole-tensor path.
func TestNuSlerpColAnalysisPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	wide := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Ldexp(r.NormFloat64(), r.IntN(61)-40))
		}
		return x
	}
	for _, work := range []tensor.DType{tensor.F32, tensor.BF16} {
		for _, shape := range [][]int64{{1, 3}, {17, 3}, {35, 2, 3}, {100, 5}} {
			n := int(numElements(shape))
			v0, v1 := wide(n), wide(n)
			tensor.Round(work, v0)
			tensor.Round(work, v1)
			ts := &Tensors{Work: work, Shape: shape, Base: -1, Global: map[string]float64{"nuslerp_row_wise": 1},
				Inputs: []Input{{Data: v0, Params: map[string]float64{"weight": 0.3}}, {Data: v1, Params: map[string]float64{"weight": 0.5}}}}
			want := make([]float32, n)
			if err := mergeNuSlerp(ts, want); err != nil {
				t.Fatal(err)
			}
			rows, cols := int(shape[0]), n/int(shape[0])
			for _, size := range []int{1, 4, 16} {
				an, err := analyzeNuSlerp(ts)
				if err != nil {
					t.Fatal(err)
				}
				ca := an.(*nuslerpColAnalysis)
				merge := func(pass, row int, out []float32) {
					end := min(rows, row+size)
					p := *ts
					p.Pass, p.State = pass, ca
					p.Inputs = []Input{{Data: v0[row*cols : end*cols], Params: ts.Inputs[0].Params}, {Data: v1[row*cols : end*cols], Params: ts.Inputs[1].Params}}
					var err error
					if out != nil {
						err = mergeNuSlerp(&p, out[row*cols:end*cols])
					} else {
						err = ca.Piece(&p)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				for pass := 0; ; pass++ {
					for row := 0; row < rows; row += size {
						merge(pass, row, nil)
					}
					if more, err := ca.EndPass(pass); err != nil || !more {
						break
					}
				}
				got := make([]float32, n)
				for row := 0; row < rows; row += size {
					merge(0, row, got)
				}
				a, b, terms := make([]float32, rows), make([]float32, rows), make([]float32, rows)
				for k := range cols {
					for i := range rows {
						a[i], b[i] = v0[i*cols+k], v1[i*cols+k]
					}
					n0, n1 := nuslerpNorm(work, tensor.SumSquares(a)), nuslerpNorm(work, tensor.SumSquares(b))
					nuslerpTerms(work, terms, a, b, n0, n1)
					dot := sumInOrder(0, terms)
					if ca.n0[k] != n0 || ca.n1[k] != n1 || math.Float64bits(ca.dot[k]) != math.Float64bits(dot) ||
						(nuslerpCoefs{ca.c0[k], ca.c1[k], ca.div[k]}) != newNuslerpCoefs(work, 0.5/(0.3+0.5), dot) {
						t.Errorf("%v %v rows of %d, column %d: norms %v %v dot %v; gathered %v %v %v", work, shape, size, k, ca.n0[k], ca.n1[k], ca.dot[k], n0, n1, dot)
					}
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%v %v rows of %d: element %d = %v, whole %v", work, shape, size, i, got[i], want[i])
					}
				}
			}
		}
	}
}
