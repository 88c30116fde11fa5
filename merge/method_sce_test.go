package merge

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
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

// TestSCESelectTies pins which positions the selection keeps when
// variances tie at the boundary (taken in index order) and when
// ⌊topk·nnz⌋ is zero, with the tensor cut into pieces of 2 so that the
// ties fall into different pieces.
func TestSCESelectTies(t *testing.T) {
	defer func(n int64) { chunkElements = n }(chunkElements)
	chunkElements = 2
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
		// Variances are 1, 1, 1, 0, 4: three ties, one zero. The sum of
		// the task vectors is 0 (elects +), so the output holds a's kept
		// entries: q = ½ each, ½·a/½ = a.
		a := []float32{1, 1, 1, 0, 2}
		b := []float32{-1, -1, -1, 0, -2}
		ts := &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs(make([]map[string]float64, 3), make([]float32, 5), a, b),
			Global: map[string]float64{"select_topk": c.topk}}
		if got := runMethod(t, SCE, ts); !slices.Equal(got, c.want) {
			t.Errorf("topk %v: got %v, want %v", c.topk, got, c.want)
		}
	}
}

// sceReference is sce as it was computed on whole tensors before it was
// streamed: a quickselect for the threshold, the boundary's ties kept in
// index order, and the squares summed in float64 in one run over the
// tensor. The inputs but the base are task vectors (TaskVectors).
func sceReference(t *Tensors, out []float32) error {
	base, tvs := sceInputs(t)
	for i := range tvs {
		tvs[i] = slices.Clone(tvs[i])
	}
	if len(tvs) == 0 {
		copy(out, base)
		return nil
	}
	r := func(v float32) float32 { return roundTo(t.Work, v) }
	if topk := t.Global["select_topk"]; topk <= 0 {
		for _, tv := range tvs {
			clear(tv)
		}
	} else if topk < 1 {
		m := float64(len(tvs))
		v := make([]float32, len(out))
		nonzero := 0
		for j := range v {
			var mean, ss float64
			for _, tv := range tvs {
				mean += float64(tv[j])
			}
			mean /= m
			for _, tv := range tvs {
				d := float64(tv[j]) - mean
				ss += d * d
			}
			if v[j] = r(float32(ss / m)); v[j] != 0 {
				nonzero++
			}
		}
		k := int(float32(float32(nonzero) * float32(topk)))
		thr, ties := float32(math.Inf(1)), 0
		if k > 0 {
			thr = kthLargest(slices.Clone(v), k)
			ties = k
			for _, a := range v {
				if a > thr {
					ties--
				}
			}
		}
		for j, a := range v {
			if a > thr {
				continue
			}
			if a == thr && ties > 0 {
				ties--
				continue
			}
			for _, tv := range tvs {
				tv[j] = 0
			}
		}
	}
	ss := make([]float64, len(tvs))
	for i, tv := range tvs {
		for _, v := range tv {
			ss[i] += float64(r(v * v))
		}
	}
	q := sceWeights(t.Work, ss, int64(len(out)))
	for j := range out {
		var sum float32
		for _, tv := range tvs {
			sum += tv[j]
		}
		positive := r(sum) >= 0
		var num, den float32
		for i, tv := range tvs {
			if v := tv[j]; v != 0 && (v > 0) == positive {
				num += r(v * q[i])
				den += q[i]
			}
		}
		out[j] = r(base[j] + r(r(num)/max(r(den), 1e-6)))
	}
	return nil
}

// TestSCEStreamedMatchesReference runs sce's analysis passes and merge
// over pieces taken in reverse order, and over a whole tensor, and checks
// both against the whole-tensor reference bit for bit: odd sizes and piece
// sizes, small integer task vectors (many variances tie at the
// threshold) and noise, in float32 and bfloat16.
func TestSCEStreamedMatchesReference(t *testing.T) {
	defer func(n int64) { chunkElements = n }(chunkElements)
	tiesExact := sceTiesExact
	type gen func(rng *rand.Rand) float32
	gens := map[string]gen{
		"ties":  func(rng *rand.Rand) float32 { return float32(rng.IntN(5) - 2) },
		"noise": func(rng *rand.Rand) float32 { return float32(rng.NormFloat64() * 0.01) },
		"sparse": func(rng *rand.Rand) float32 {
			if rng.IntN(4) > 0 {
				return 0
			}
			return float32(rng.IntN(3) - 1)
		},
	}
	for _, work := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
		for gname, g := range gens {
			for _, n := range []int{1, 7, 1000, 4099} {
				if n == 1000 && work != tensor.F32 {
					continue
				}
				for _, models := range []int{1, 2, 5} {
					for _, topk := range []float64{0, 0.1, 0.33, 0.999, 1} {
						rng := rand.New(rand.NewPCG(uint64(n), uint64(models)))
						data := make([][]float32, models+1)
						for i := range data {
							data[i] = make([]float32, n)
							for j := range data[i] {
								data[i][j] = tensor.RoundScalar(work, g(rng))
								if i == 0 {
									data[i][j] += 3 // a base
								}
							}
						}
						ts := func() *Tensors { // on copies: Merge zeroes unselected entries
							cp := make([][]float32, len(data))
							for i := range data {
								cp[i] = slices.Clone(data[i])
							}
							return &Tensors{Name: "w", Shape: []int64{int64(n)}, Work: work, Base: 0,
								Inputs: inputs(make([]map[string]float64, models+1), cp...),
								Global: map[string]float64{"select_topk": topk}}
						}
						want := make([]float32, n)
						if err := sceReference(ts(), want); err != nil {
							t.Fatal(err)
						}
						for _, c := range []int64{7, 64, 1000} {
							if c < 64 && n > 1000 {
								continue // many pieces, each with its histograms
							}
							name := fmt.Sprintf("%v/%s/n%d/m%d/k%v/c%d", work, gname, n, models, topk, c)
							chunkElements = c
							got := make([]float32, n)
							if err := mergeSCE(ts(), got); err != nil {
								t.Fatal(err)
							}
							if !sameBits(got, want) {
								t.Fatalf("%s: whole: got %v, want %v", name, got, want)
							}
							got = streamSCE(t, ts(), int(c), false)
							if !sameBits(got, want) {
								t.Fatalf("%s: streamed: got %v, want %v", name, got, want)
							}
							if work != tensor.BF16 {
								continue
							}
							// With the whole tensor as the sample: the window
							// pass, its sums of ties exact or not.
							for _, exact := range []bool{true, false} {
								sceTiesExact = tiesExact
								if !exact {
									sceTiesExact = func(*sceState, int) bool { return false }
								}
								got = streamSCE(t, ts(), int(c), true)
								sceTiesExact = tiesExact
								if !sameBits(got, want) {
									t.Fatalf("%s: streamed from a sample, ties exact %v: got %v, want %v", name, exact, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
}

func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// streamSCE runs sce's Analysis over pieces of c elements taken in reverse
// order, as several workers might, and merges the pieces, also in reverse
// order. With sample set, Analyze gets the whole tensor as its sample.
func streamSCE(t *testing.T, ts *Tensors, c int, sample bool) []float32 {
	t.Helper()
	data := make([][]float32, len(ts.Inputs))
	for i, in := range ts.Inputs {
		data[i] = in.Data
	}
	n := len(data[0])
	ts.Pieces, ts.Workers = (n+c-1)/c, 1
	for i := range ts.Inputs {
		ts.Inputs[i].Data = nil
		if sample {
			ts.Inputs[i].Data, ts.Sample = slices.Clone(data[i]), 1
		}
	}
	an, err := SCE.Analyze(ts)
	ts.Sample = 0
	if err != nil {
		t.Fatal(err)
	}
	ts.State = an
	load := func(p int) (lo, hi int) {
		lo, hi = p*c, min(n, (p+1)*c)
		for i := range ts.Inputs {
			ts.Inputs[i].Data = slices.Clone(data[i][lo:hi])
		}
		ts.Piece, ts.Offset = p, int64(lo)
		return lo, hi
	}
	for pass := 0; ; pass++ {
		ts.Pass = pass
		for p := ts.Pieces - 1; p >= 0; p-- {
			load(p)
			if err := an.Piece(ts); err != nil {
				t.Fatal(err)
			}
		}
		more, err := an.EndPass(pass)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
		if pass > 3 {
			t.Fatal("more than four passes")
		}
	}
	out := make([]float32, n)
	for p := ts.Pieces - 1; p >= 0; p-- {
		lo, hi := load(p)
		if err := SCE.Merge(ts, out[lo:hi]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestSCEStreamedThreads checks that sce merged by the executor in pieces
// writes the bytes of the whole-tensor path and of the reference for
// several thread counts, with odd pieces (777 elements) and bfloat16
// variances, which tie often.
func TestSCEStreamedThreads(t *testing.T) {
	dir := tinyModels(t)
	defer func(n int64) { chunkElements = n }(chunkElements)
	chunkElements = 777
	for _, c := range []struct{ name, yml string }{
		{"bf16 topk 0.3", "dtype: bfloat16\nparameters: {select_topk: 0.3}\n"},
		{"bf16 topk 0.9", "dtype: bfloat16\nparameters: {select_topk: 0.9}\n"},
		{"f32 topk 0.5", "parameters: {select_topk: 0.5}\n"},
		{"bf16 no selection", "dtype: bfloat16\n"},
		{"f16 topk 0.2", "dtype: float16\nparameters: {select_topk: 0.2}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			yml := "merge_method: sce\nbase_model: base\nmodels: [{model: ft1}, {model: ft2}, {model: ft1_bf16}]\n" + c.yml
			run := func(name string, threads int) string {
				out := filepath.Join(t.TempDir(), name)
				if _, err := runYAML(t, dir, yml, out, Options{Threads: threads}); err != nil {
					t.Fatal(err)
				}
				return out
			}
			analyze, merge := SCE.Analyze, SCE.Merge
			SCE.Analyze = nil
			whole := run("whole", 1)
			SCE.Merge = sceReference
			ref := run("reference", 2)
			SCE.Analyze, SCE.Merge = analyze, merge
			sameTensors(t, ref, whole)
			for _, threads := range []int{1, 2, 3} {
				t.Run(fmt.Sprint("j", threads), func(t *testing.T) {
					sameTensors(t, whole, run("streamed", threads))
				})
			}
		})
	}
}

// TestSCEStoredMatchesUnstored checks that sce on stored bfloat16 inputs
// (Method.StoredBF16: task vectors computed block by block in every pass)
// writes the bytes of sce on the executor's float32 task vectors: pieces
// smaller than a block and pieces of several blocks, neither a multiple of
// 64, with and without selection, one and three fine-tunes, inputs mapped
// and read, on one to three threads.
func TestSCEStoredMatchesUnstored(t *testing.T) {
	dir := bf16Models(t)
	if !SCE.StoredBF16 {
		t.Fatal("sce does not take stored inputs")
	}
	defer func(n int64) { chunkElements = n }(chunkElements)
	for _, models := range []string{"[{model: ft1}]", "[{model: ft1}, {model: ft2}, {model: ft3}]"} {
		for _, params := range []string{"{select_topk: 0.3}", "{select_topk: 0.9}", "{select_topk: 0}", "{}"} {
			for _, c := range []int64{777, 5000} {
				name := fmt.Sprintf("%s/%s/c%d", models, params, c)
				chunkElements = c
				yml := "merge_method: sce\nbase_model: base\ndtype: bfloat16\nparameters: " + params + "\nmodels: " + models + "\n"
				sameStoredUnstored(t, SCE, dir, yml, name)
			}
		}
	}
}

// TestSCESquaresAll checks that the interleaved sums of squares are those
// of sceSquares, task vector by task vector, for one to six task vectors,
// odd lengths, values of every magnitude (their float64 sums round) and
// infinities, from non-zero starting sums.
func TestSCESquaresAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, work := range []tensor.DType{tensor.BF16, tensor.F32, tensor.F16} {
		for models := 1; models <= 6; models++ {
			for _, n := range []int{0, 1, 511, 512, 513, 2048, 3001} {
				tvs := make([][]float32, models)
				for i := range tvs {
					tvs[i] = make([]float32, n)
					for j := range tvs[i] {
						v := float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(60)-40)))
						switch rng.IntN(50) {
						case 0:
							v = 0
						case 1:
							v = float32(math.Inf(1 - 2*rng.IntN(2)))
						}
						tvs[i][j] = tensor.RoundScalar(work, v)
					}
				}
				got := make([]float64, models)
				want := make([]float64, models)
				for i := range got {
					got[i] = rng.Float64() * 1e-3
					want[i] = sceSquares(work, got[i], tvs[i])
				}
				sceSquaresAll(work, got, tvs)
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%v, %d models, n %d: sum %d is %v, want %v", work, models, n, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestSCEWindow checks that sce in bfloat16 finds its threshold and its
// weights in the sample's window pass alone; that the piece keeping some
// of its ties, when its sums may round, is summed by a weights pass over
// it (two passes, forced here); and that a window forced to miss above or
// below the threshold falls back to the histogram and weights passes
// (three). The bytes are those of the whole-tensor path every time: inputs
// stored and not, on one and two threads, with pieces of 777 elements so
// that the ties at the threshold fall into several pieces.
func TestSCEWindow(t *testing.T) {
	dir := bf16Models(t)
	defer func(n int64, f func([]float32, int, int64) (uint32, uint32), m func(*Tensors, []float32) error,
		a func(*Tensors) (Analysis, error), e func(*sceState, int) bool) {
		chunkElements, chooseSCEWindow, SCE.Merge, SCE.Analyze, sceTiesExact = n, f, m, a, e
	}(chunkElements, chooseSCEWindow, SCE.Merge, SCE.Analyze, sceTiesExact)
	tiesExact := sceTiesExact
	chunkElements = 777
	merge := SCE.Merge
	var mu sync.Mutex
	passes := map[string]int{} // per tensor
	SCE.Merge = func(t *Tensors, out []float32) error {
		if st, ok := t.State.(*sceState); ok {
			mu.Lock()
			passes[t.Name] = st.passes
			mu.Unlock()
		}
		return merge(t, out)
	}
	for _, topk := range []string{"0.3", "0.9"} {
		yml := "merge_method: sce\nbase_model: base\ndtype: bfloat16\nparameters: {select_topk: " + topk + "}\n" +
			"models: [{model: ft1}, {model: ft2}, {model: ft3}]\n"
		run := func(name string, threads int) string {
			t.Helper()
			out := filepath.Join(t.TempDir(), name)
			if _, err := runYAML(t, dir, yml, out, Options{Threads: threads}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return out
		}
		analyze := SCE.Analyze
		SCE.Analyze = nil
		whole := run("whole", 1)
		SCE.Analyze = analyze
		for _, c := range []struct {
			name   string
			lo, hi uint32
			passes []int // the first is what some tensor takes
		}{
			{"sampled", 0, 0, []int{1}},
			{"ties inexact", 0, 0, []int{2, 1}},
			{"window above", 0x7f00 << 16, 0x7f04 << 16, []int{3}},
			{"window below", 0, 0, []int{3}},
		} {
			chooseSCEWindow, sceTiesExact = sampleWindow, tiesExact
			switch c.name {
			case "ties inexact":
				sceTiesExact = func(*sceState, int) bool { return false }
			case "window above", "window below":
				chooseSCEWindow = func([]float32, int, int64) (uint32, uint32) { return c.lo, c.hi }
			}
			for _, stored := range []bool{true, false} {
				for _, threads := range []int{1, 2} {
					name := fmt.Sprintf("topk %s/%s/stored %v/j%d", topk, c.name, stored, threads)
					SCE.StoredBF16 = stored
					clear(passes)
					got := run(name, threads)
					SCE.StoredBF16 = true
					sameTensors(t, whole, got)
					if len(passes) == 0 {
						t.Fatalf("%s: no tensor merged in pieces", name)
					}
					some := false
					for tn, p := range passes {
						some = some || p == c.passes[0]
						if !slices.Contains(c.passes, p) {
							t.Errorf("%s: %s took %d analysis passes, want one of %v", name, tn, p, c.passes)
						}
					}
					if !some {
						t.Errorf("%s: no tensor took %d analysis passes", name, c.passes[0])
					}
				}
			}
		}
	}
}
