package merge

import (
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func dellaTensors(shape []int64, work tensor.DType, density, eps float64) *Tensors {
	return &Tensors{Name: "x", Shape: shape, Work: work, Seed: 5, Global: map[string]float64{"rescale": 0},
		Inputs: []Input{{Model: "m", Params: map[string]float64{"density": density, "epsilon": eps}}}}
}

func TestSparsifyDellaErrors(t *testing.T) {
	tests := []struct {
		name           string
		shape          []int64
		density, eps   float64
		wantEps, other string
	}{
		{"density+epsilon = 1", []int64{4}, 0.5, 0.5, "yes", ""},
		{"density−epsilon = 0", []int64{4}, 0.1, 0.1, "yes", ""},
		{"density+epsilon > 1", []int64{4}, 0.9, 0.15, "yes", ""},
		{"one column", []int64{4, 1}, 0.5, 0.1, "", "NaN"},
		{"one element", []int64{1}, 0.5, 0.1, "", "NaN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := int(numElements(tc.shape))
			err := sparsifyDella(dellaTensors(tc.shape, tensor.F32, tc.density, tc.eps), 0, make([]float32, n))
			switch {
			case tc.wantEps != "" && !errors.Is(err, ErrDellaEpsilon):
				t.Errorf("err = %v, want ErrDellaEpsilon", err)
			case tc.other != "" && (err == nil || !strings.Contains(err.Error(), tc.other)):
				t.Errorf("err = %v, want %q", err, tc.other)
			}
		})
	}
}

func TestSparsifyDellaEdges(t *testing.T) {
	delta := []float32{1, -2, 3, -4}
	for _, tc := range []struct {
		density float64
		want    []float32
	}{{1, delta}, {1.5, delta}, {0, make([]float32, 4)}, {-1, make([]float32, 4)}} {
		d := slices.Clone(delta)
		// epsilon 0.9 would be invalid, but density ≥ 1 and ≤ 0 return first.
		if err := sparsifyDella(dellaTensors([]int64{4}, tensor.F32, tc.density, 0.9), 0, d); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d, tc.want) {
			t.Errorf("density %v: got %v, want %v", tc.density, d, tc.want)
		}
	}
}

func TestDellaBounds(t *testing.T) {
	got := dellaBounds(tensor.F32, 5, 0.5, 0.1)
	for k, p := range []float32{0.4, 0.45, 0.5, 0.55, 0.6} {
		if want := randomThreshold(p); math.Abs(float64(got[k])-float64(want)) > 1000 { // float32 rounding
			t.Errorf("rank %d: bound %d, want %d (p %v)", k, got[k], want, p)
		}
	}
	// bfloat16 holds ranks 256 and 257 as 256: they share a probability.
	bf := dellaBounds(tensor.BF16, 300, 0.5, 0.1)
	if bf[255] != bf[256] {
		t.Errorf("bf16 ranks 256 and 257 differ: %d, %d", bf[255], bf[256])
	}
	if f := dellaBounds(tensor.F32, 300, 0.5, 0.1); f[255] == f[256] {
		t.Error("f32 ranks 256 and 257 share a probability")
	}
}

func TestDellaRanks(t *testing.T) {
	tests := []struct {
		name           string
		x              []float32
		rows, c, inner int
		want           []int32
	}{
		{"rows", []float32{3, -1, 2, 0.5, 0.5, -9}, 2, 3, 1, []int32{2, 0, 1, 0, 1, 2}},
		// [1, 3, 2]: ranks along the middle axis, per last index.
		{"middle axis", []float32{3, 1, -1, 5, 2, 0}, 1, 3, 2, []int32{2, 1, 0, 2, 1, 0}},
	}
	for _, tc := range tests {
		got := make([]int32, len(tc.x))
		rowSize := tc.c * tc.inner
		for row := range tc.rows {
			var rk ranker
			rk.ranks(got[row*rowSize:(row+1)*rowSize], tc.x[row*rowSize:(row+1)*rowSize], tc.c, tc.inner)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if r, c, in := dellaLayout([]int64{7}, 7); r != 1 || c != 7 || in != 1 {
		t.Errorf("1-D layout %d %d %d, want one row of 7", r, c, in)
	}
}

// TestSparsifyDellaBias checks the keep rates by magnitude rank: density −
// epsilon for the smallest of each row, density + epsilon for the largest.
func TestSparsifyDellaBias(t *testing.T) {
	const rows, cols = 4000, 10
	delta := make([]float32, rows*cols)
	for j := range delta {
		delta[j] = float32(j%cols + 1)
	}
	d := slices.Clone(delta)
	if err := sparsifyDella(dellaTensors([]int64{rows, cols}, tensor.F32, 0.5, 0.2), 0, d); err != nil {
		t.Fatal(err)
	}
	for col, want := range []float64{0.3, 0.7} {
		col *= cols - 1
		kept := 0
		for r := 0; r < rows; r++ {
			if d[r*cols+col] != 0 {
				kept++
			}
		}
		if got := float64(kept) / rows; math.Abs(got-want) > 0.04 {
			t.Errorf("rank %d kept %.3f, want %.2f", col, got, want)
		}
	}
}

func TestDELLA(t *testing.T) {
	base := []float32{1, 1, 1, 1}
	a := []float32{2, 0, 1, 3}
	b := []float32{0, 2, 1, 3}
	p := func(w float64) map[string]float64 {
		return map[string]float64{"weight": w, "density": 1, "epsilon": 0.15}
	}
	got := runMethod(t, DELLA, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs([]map[string]float64{{}, p(1), p(3)}, base, a, b)})
	// density 1: TIES with normalize; element 0 elects b's sign (−3 > 1).
	if want := []float32{0, 2, 1, 3}; !near(got, want, 1e-6) {
		t.Errorf("della: got %v, want %v", got, want)
	}
	got = runMethod(t, DELLALinear, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs([]map[string]float64{{}, p(1), p(3)}, base, a, b)})
	if want := []float32{1 + 1 - 3, 1 - 1 + 3, 1, 1 + 2 + 6}; !near(got, want, 1e-6) {
		t.Errorf("della_linear: got %v, want %v", got, want)
	}
	got = runMethod(t, DELLALinear, &Tensors{Work: tensor.F32, Base: 0, Inputs: inputs([]map[string]float64{{}, p(1)}, base, base)})
	if !near(got, base, 0) {
		t.Errorf("empty task vector: got %v", got)
	}
}

// TestSparsifyDellaParallel checks the row-parallel masks against one pass
// in index order: ranks per row, one draw per element.
func TestSparsifyDellaParallel(t *testing.T) {
	const rows, c = 700, 512
	x := make([]float32, rows*c)
	r := newRandomSource(1, "data")
	for j := range x {
		x[j] = float32(int32(r.uint32())) / (1 << 31)
	}
	ts := dellaTensors([]int64{rows, c}, tensor.F32, 0.5, 0.2)
	want := slices.Clone(x)
	bounds := dellaBounds(tensor.F32, c, 0.5, 0.2)
	src := newRandomSource(ts.Seed, "m")
	rank := make([]int32, c)
	for row := range rows {
		var rk ranker
		rk.ranks(rank, want[row*c:(row+1)*c], c, 1)
		for j, rk := range rank {
			if uint64(src.uint32()) >= bounds[rk] {
				want[row*c+j] = 0
			}
		}
	}
	for _, procs := range []int{1, 2, 3} {
		prev := runtime.GOMAXPROCS(procs)
		got := slices.Clone(x)
		err := sparsifyDella(ts, 0, got)
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("GOMAXPROCS %d: masks differ from one pass in index order", procs)
		}
	}
}

// TestRankerMatchesStableSort compares the radix ranks with a stable sort
// by magnitude, with heavy ties, negative zeros, NaNs, bfloat16 values and
// inner strides.
func TestRankerMatchesStableSort(t *testing.T) {
	r := newRandomSource(11, "ranks")
	var rk ranker
	for _, c := range []int{1, 2, 3, 17, 300} {
		for _, inner := range []int{1, 3} {
			for _, distinct := range []uint32{2, 50, 1 << 31, 1<<15 + 1} {
				x := make([]float32, c*inner)
				for j := range x {
					x[j] = math.Float32frombits(r.uint32() % distinct)
					if distinct == 1<<15+1 { // bfloat16 values: no low bits
						x[j] = math.Float32frombits(r.uint32() % distinct << 16)
					}
					if r.uint32()%3 == 0 {
						x[j] = -x[j]
					}
				}
				got := make([]int32, len(x))
				rk.ranks(got, x, c, inner)
				for in := 0; in < inner; in++ {
					order := make([]int, c)
					for k := range order {
						order[k] = k
					}
					sort.SliceStable(order, func(a, b int) bool {
						return magnitudeBits(x[in+order[a]*inner]) < magnitudeBits(x[in+order[b]*inner])
					})
					for pos, k := range order {
						if got[in+k*inner] != int32(pos) {
							t.Fatalf("c %d inner %d distinct %d: element %d ranked %d, stable sort %d", c, inner, distinct, k, got[in+k*inner], pos)
						}
					}
				}
			}
		}
	}
}

// TestDellaStreamedMatchesWhole drives DELLA's Analysis over pieces of
// whole rows, as the executor does, and checks its masks and rescaled
// values against sparsifyDella on the whole tensor: bit for bit without
// rescale; with it the same masks, and the factor (from piece sums added
// in order) within one unit in the last place of the working dtype.
func TestDellaStreamedMatchesWhole(t *testing.T) {
	for _, tc := range []struct {
		name      string
		shape     []int64
		work      tensor.DType
		rowsPiece int
		rescale   float64
	}{
		{"matrix f32", []int64{37, 50}, tensor.F32, 4, 0},
		{"matrix f32 rescale", []int64{37, 50}, tensor.F32, 4, 1},
		{"matrix bf16 rescale", []int64{40, 300}, tensor.BF16, 7, 1},
		{"3-d f32", []int64{6, 10, 7}, tensor.F32, 1, 0},
		{"3-d f16 rescale", []int64{6, 10, 7}, tensor.F16, 5, 1},
		{"vector", []int64{90}, tensor.F32, 1, 0},
		// Rows of multiples of 16 elements: ranked row by row with the
		// rescale sums (tensor.AbsSum) taken as they go.
		{"matrix bf16 rescale rows of 16s", []int64{40, 320}, tensor.BF16, 7, 1},
		{"matrix f32 rescale rows of 16s", []int64{37, 64}, tensor.F32, 4, 1},
		{"3-d bf16 rescale rows of 16s", []int64{6, 4, 8}, tensor.BF16, 2, 1},
		{"vector rescale 16s", []int64{96}, tensor.F32, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := int(numElements(tc.shape))
			r := newRandomSource(3, "data")
			x := make([]float32, n)
			for j := range x {
				x[j] = tensor.RoundScalar(tc.work, float32(int32(r.uint32()))/(1<<31))
			}
			mk := func() *Tensors {
				return &Tensors{Name: "x", Shape: tc.shape, Work: tc.work, Seed: 9, Base: 0,
					Global: map[string]float64{"rescale": tc.rescale},
					Inputs: []Input{{Model: "base"}, {Model: "m", Params: map[string]float64{"density": 0.4, "epsilon": 0.2}},
						{Model: "dense", Params: map[string]float64{"density": 1}}, {Model: "empty", Params: map[string]float64{"density": 0}}}}
			}
			whole := slices.Clone(x)
			if err := sparsifyDella(mk(), 1, whole); err != nil {
				t.Fatal(err)
			}
			unit := int(dellaUnit(mk()))
			c := tc.rowsPiece * unit
			ts := mk()
			ts.Pieces, ts.Workers = (n+c-1)/c, 1
			an, err := analyzeDella(ts)
			if err != nil {
				t.Fatal(err)
			}
			ts.State = an
			piece := func(p int) (lo, hi int) { return p * c, min(n, (p+1)*c) }
			for p := range ts.Pieces {
				lo, hi := piece(p)
				ts.Piece, ts.Offset = p, int64(lo)
				ts.Inputs[1].Data = slices.Clone(x[lo:hi])
				if err := an.Piece(ts); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := an.EndPass(0); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, 0, n)
			for p := range ts.Pieces {
				lo, hi := piece(p)
				ts.Piece, ts.Offset = p, int64(lo)
				for _, i := range []int{1, 2, 3} {
					d := slices.Clone(x[lo:hi])
					if err := sparsifyDella(ts, i, d); err != nil {
						t.Fatal(err)
					}
					switch i {
					case 1:
						got = append(got, d...)
					case 2:
						if !slices.Equal(d, x[lo:hi]) {
							t.Fatal("density 1 changed the piece")
						}
					case 3:
						if slices.ContainsFunc(d, func(v float32) bool { return v != 0 }) {
							t.Fatal("density 0 kept an element")
						}
					}
				}
			}
			for j := range whole {
				if (got[j] == 0) != (whole[j] == 0) {
					t.Fatalf("element %d: streamed %v, whole %v: the masks differ", j, got[j], whole[j])
				}
				if tc.rescale == 0 && got[j] != whole[j] {
					t.Fatalf("element %d: streamed %v, whole %v", j, got[j], whole[j])
				}
				if d := math.Abs(float64(got[j] - whole[j])); d > math.Abs(float64(whole[j]))/100 {
					t.Fatalf("element %d: streamed %v, whole %v", j, got[j], whole[j])
				}
			}
		})
	}
}

// TestRowStreamedThreads checks that the methods streamed in pieces of
// whole rows give the same bytes for every thread count: DELLA (masks
// drawn per piece) and filter_wise model_stock (coefficients per row), on
// matrices cut into many pieces.
func TestRowStreamedThreads(t *testing.T) {
	dir := tinyModels(t)
	defer func(n int64) { chunkElements = n }(chunkElements)
	chunkElements = 1000
	for _, yml := range []string{
		"merge_method: della\nbase_model: base\ndtype: bfloat16\nmodels:\n" +
			"  - model: ft1\n    parameters: {weight: 0.6, density: 0.3, epsilon: 0.2}\n" +
			"  - model: ft2\n    parameters: {weight: 0.4, density: 0.7}\n",
		"merge_method: della_linear\nbase_model: base\nmodels:\n" +
			"  - model: ft1\n    parameters: {weight: 0.6, density: 0.3}\n" +
			"  - model: ft2\n    parameters: {weight: 0.4, density: 0.5}\n",
		"merge_method: model_stock\nbase_model: base\nparameters: {filter_wise: true}\nmodels: [{model: ft1}, {model: ft2}]\n",
	} {
		var outs []string
		for _, threads := range []int{1, 3} {
			out := filepath.Join(t.TempDir(), "out")
			if _, err := runYAML(t, dir, yml, out, Options{Threads: threads, Seed: new(uint64(4))}); err != nil {
				t.Fatal(err)
			}
			outs = append(outs, out)
		}
		sameTensors(t, outs[0], outs[1])
	}
}

// TestDropCountedMatchesStableSort pins dropCounted, the counting ranks of
// bfloat16 rows, against ranks from a stable sort by magnitude: rows with
// heavy ties, zeros of both signs, infinities and NaNs, odd lengths and
// keep bits starting anywhere in a word. The bounds are random per rank,
// so that a wrong rank shows as a wrong keep bit about half the time.
func TestDropCountedMatchesStableSort(t *testing.T) {
	r := newRandomSource(12, "counted")
	var rk ranker
	for _, c := range []int{1, 2, 3, 17, 63, 64, 65, 300, 2053} {
		for _, off := range []int{0, 5, 63, 64} {
			for _, distinct := range []uint32{1, 2, 50, 1 << 15} {
				x := make([]float32, c)
				for j := range x {
					x[j] = math.Float32frombits(r.uint32() % distinct << 16)
					switch r.uint32() % 16 {
					case 0:
						x[j] = float32(math.Inf(1))
					case 1:
						x[j] = float32(math.NaN())
					case 2, 3, 4, 5:
						x[j] = -x[j]
					}
				}
				draws, bounds := make([]uint32, c), make([]uint64, c)
				for j := range draws {
					draws[j], bounds[j] = r.uint32(), uint64(r.uint32())
					switch r.uint32() % 64 {
					case 0:
						bounds[j] = 1 << 32 // always kept
					case 1:
						bounds[j] = 1 // kept only by draw 0
						draws[j] %= 2
					}
				}
				order := make([]int, c)
				for k := range order {
					order[k] = k
				}
				sort.SliceStable(order, func(a, b int) bool { return magnitudeBits(x[order[a]]) < magnitudeBits(x[order[b]]) })
				want, wantKeep := slices.Clone(x), make([]uint64, (off+c+63)/64)
				for rank, j := range order {
					if uint64(draws[j]) < bounds[rank] {
						wantKeep[(off+j)/64] |= 1 << ((off + j) % 64)
					} else {
						want[j] = 0
					}
				}
				// Every path: the scalar walk, tensor.RankKeep (limits),
				// with and without keep bits, with and without the sums
				// before and after the drop.
				limits := dellaLimits(bounds, nil)
				for _, path := range []struct {
					limits          []uint32
					keep, all, kept bool
				}{
					{nil, true, false, true}, {limits, true, false, true}, {limits, false, false, true}, {nil, false, false, true},
					{nil, true, true, true}, {limits, true, true, true}, {limits, false, true, true}, {nil, false, true, true},
					{limits, true, true, false}, {nil, true, true, false}, {limits, true, false, false},
				} {
					got := slices.Clone(x)
					var keep []uint64
					if path.keep {
						keep = make([]uint64, len(wantKeep))
					}
					var all, kept tensor.AbsSum
					var allp, keptp *tensor.AbsSum
					if path.all {
						allp = &all
					}
					if path.kept {
						keptp = &kept
					}
					if !rk.dropCounted(got, draws, bounds, path.limits, keep, off, allp, keptp) {
						// Only a row whose keys span too many for it.
						lo, hi := bf16Keys, 0
						for _, v := range x {
							if k := int(magnitudeBits(v) >> 16); k != 0 {
								lo, hi = min(lo, k), max(hi, k)
							}
						}
						if a, b := countedSpan(lo, hi); !wideSpan(c, a, b) || !slices.Equal(f32Bits(got), f32Bits(x)) || rk.counts.hist != ([bf16Keys]int32{}) || kept != (tensor.AbsSum{}) || all != (tensor.AbsSum{}) {
							t.Fatalf("c %d distinct %d: bfloat16 row refused, changed or its histogram left", c, distinct)
						}
						continue
					}
					for j := range got {
						if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
							t.Fatalf("c %d off %d distinct %d limits %v: element %d = %v, stable sort gives %v", c, off, distinct, path.limits != nil, j, got[j], want[j])
						}
					}
					var wantAll, wantKept tensor.AbsSum
					if path.all {
						wantAll.Add(x)
					}
					if path.kept {
						wantKept.Add(want)
					}
					// Two NaN sums agree whatever their payloads: which NaN
					// operand an addition passes on depends on the registers
					// the compiler picks (a -race build picks others).
					sameSum := func(a, b float64) bool {
						return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
					}
					if !sameSum(all.Sum(), wantAll.Sum()) || !sameSum(kept.Sum(), wantKept.Sum()) {
						t.Fatalf("c %d off %d distinct %d limits %v: magnitudes sum to %v and %v kept, want %v and %v", c, off, distinct, path.limits != nil, all.Sum(), kept.Sum(), wantAll.Sum(), wantKept.Sum())
					}
					if path.keep && !slices.Equal(keep, wantKeep) {
						t.Fatalf("c %d off %d distinct %d limits %v: keep bits %x, want %x", c, off, distinct, path.limits != nil, keep, wantKeep)
					}
				}
			}
		}
		// A float32 value with low bits is refused and left alone, and
		// the next row is counted from a clean table.
		x := make([]float32, c)
		for j := range x {
			x[j] = float32(j%7) * 0.25
		}
		x[c-1] = 1.0000001
		before := slices.Clone(x)
		if rk.dropCounted(x, make([]uint32, c), make([]uint64, c), make([]uint32, c), nil, 0, nil, nil) || !slices.Equal(x, before) {
			t.Fatalf("c %d: a float32 row was counted or changed", c)
		}
		if rk.counts.hist != ([bf16Keys]int32{}) {
			t.Fatalf("c %d: the count table is not clear after a refused row", c)
		}
	}
}

// TestDellaLimits checks that the limits read draw < bound as draw ≤
// limit, from bound 1 to 2³², and that a bound of 0 has none.
func TestDellaLimits(t *testing.T) {
	got := dellaLimits([]uint64{1, 2, 1 << 31, 1 << 32}, nil)
	if want := []uint32{0, 1, 1<<31 - 1, 1<<32 - 1}; !slices.Equal(got, want) {
		t.Errorf("limits %v, want %v", got, want)
	}
	if got := dellaLimits([]uint64{5, 0, 7}, make([]uint32, 3)); got != nil {
		t.Errorf("a zero bound gave limits %v", got)
	}
}

// f32Bits returns the bit patterns of x, which compare NaNs as equal.
func f32Bits(x []float32) []uint32 {
	b := make([]uint32, len(x))
	for j, v := range x {
		b[j] = math.Float32bits(v)
	}
	return b
}

// TestDellaPieceSums checks that the analysis pass's L1 sums of a piece,
// taken row by row as the rows are ranked (tensor.AbsSum), equal SumAbs
// of the piece's task vector before and after the drop bit for bit, from
// task vectors and from stored bfloat16 bytes, with magnitudes far apart
// (the order of the additions shows), rows of multiples of 16 elements
// and not.
func TestDellaPieceSums(t *testing.T) {
	for _, shape := range [][]int64{{12, 64}, {12, 2048}, {5, 3, 16}, {12, 50}} {
		for _, stored := range []bool{false, true} {
			n := int(numElements(shape))
			r := newRandomSource(5, "sums")
			base, x := make([]float32, n), make([]float32, n)
			for j := range x {
				e := float64(int(r.uint32()%40) - 20)
				base[j] = tensor.RoundScalar(tensor.BF16, float32(math.Ldexp(float64(int32(r.uint32()))/(1<<31), int(e))))
				x[j] = tensor.RoundScalar(tensor.BF16, float32(math.Ldexp(float64(int32(r.uint32()))/(1<<31), int(e))))
			}
			delta := make([]float32, n)
			for j := range delta {
				delta[j] = tensor.RoundScalar(tensor.BF16, x[j]-base[j])
			}
			ts := &Tensors{Name: "x", Shape: shape, Work: tensor.BF16, Seed: 9, Base: 0, Pieces: 1, Workers: 1,
				Global: map[string]float64{"rescale": 1},
				Inputs: []Input{{Model: "base"}, {Model: "m", Params: map[string]float64{"density": 0.4, "epsilon": 0.2}}}}
			an, err := analyzeDella(ts)
			if err != nil {
				t.Fatal(err)
			}
			ts.State = an
			ts.Inputs[1].Data = slices.Clone(delta)
			if stored {
				ts.Stored = true
				ts.Inputs[0].BF16, ts.Inputs[1].BF16 = make([]byte, 2*n), make([]byte, 2*n)
				if tensor.Encode(ts.Inputs[0].BF16, base, tensor.BF16) != nil || tensor.Encode(ts.Inputs[1].BF16, x, tensor.BF16) != nil {
					t.Fatal("encode")
				}
			}
			if err := an.Piece(ts); err != nil {
				t.Fatal(err)
			}
			m := an.(*dellaState).models[1]
			dropped := slices.Clone(delta)
			tensor.KeepBits(dropped, m.keep[0])
			if all, kept := tensor.SumAbs(delta), tensor.SumAbs(dropped); math.Float64bits(m.all[0]) != math.Float64bits(all) || math.Float64bits(m.kept[0]) != math.Float64bits(kept) {
				t.Fatalf("shape %v stored %v: sums %v, %v; SumAbs gives %v, %v", shape, stored, m.all[0], m.kept[0], all, kept)
			}
		}
	}
}

// TestDellaKeepWords checks that the mask words handed out again after
// putKeep are cleared and of the length asked for, whether the pool
// reuses the dirty buffer or not.
func TestDellaKeepWords(t *testing.T) {
	for _, c := range []struct{ put, get int }{{8, 8}, {8, 3}, {3, 8}, {0, 5}, {4096, 4096}} {
		dirty := make([]uint64, c.put)
		for j := range dirty {
			dirty[j] = ^uint64(0)
		}
		putKeep(dirty)
		k := getKeep(c.get)
		if len(k) != c.get {
			t.Fatalf("put %d, get %d: %d words", c.put, c.get, len(k))
		}
		for j, w := range k {
			if w != 0 {
				t.Fatalf("put %d, get %d: word %d is %x, not cleared", c.put, c.get, j, w)
			}
		}
		putKeep(k)
	}
}
