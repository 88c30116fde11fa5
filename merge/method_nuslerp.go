package merge

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// NuSlerp is mergekit's "nuslerp": spherical interpolation between two
// models A and C (config order) with t = w_C/(w_A + w_C) (0.5 when the
// weights sum to less than 1e-6 in magnitude), optionally of their task
// vectors against a base model B. For each vector v0, v1 (the whole
// tensor with nuslerp_flatten, the default; else every row, or every
// column with nuslerp_row_wise):
//
//	u = v/max(‖v‖, 1e-7),  θ = acos(clamp(u0·u1, −1, 1))
//	S = (sin((1−t)θ)·v0 + sin(tθ)·v1) / sin θ     ((1−t)·v0 + t·v1 when |sin θ| < 1e-8)
//	R = S(A, C)   or, with a base,   R = B + S(A − B, C − B)
//
// Unlike slerp it runs in the working dtype, rounding every op. A tensor
// present in one input only is returned unchanged.
//
// Every tensor is streamed. Row vectors come in pieces of whole rows. A
// flattened tensor takes three passes: the norms (tensor.SumSquaresAcc,
// in piece order), the dot product (a float64 sum in element order) and
// the merge; column vectors the same three, in pieces of whole rows, with
// sums per column (tensor.SumSquaresCols). The sums are added in the
// order the whole-tensor path adds them, so the bytes are the same.
var NuSlerp = &Method{
	Name:   "nuslerp",
	Pretty: "NuSLERP",
	Base:   BaseOptional,
	Global: []Param{
		{Name: "nuslerp_row_wise", Default: 0},
		{Name: "nuslerp_flatten", Default: 1},
	},
	PerModel:    []Param{{Name: "weight", Required: true}},
	MinInputs:   1,
	MaxInputs:   3,
	EmbedRule:   EmbedCommon,
	Merge:       mergeNuSlerp,
	Analyze:     analyzeNuSlerp,
	CanAnalyze:  nuslerpStreams,
	PieceUnit:   nuslerpUnit,
	TaskVectors: true,
	PlanTask: func(c *TaskContext) (bool, error) {
		if c.BaseSet && c.Task.Base < 0 && len(c.Task.Inputs) > 1 {
			return false, fmt.Errorf("nuslerp: the base model has no %s", c.Task.Name)
		}
		return false, nil
	},
}

func init() { Register(NuSlerp) }

// nuslerpRows reports whether nuslerp interpolates t row by row (vectors
// along the last dimension: nuslerp_flatten and nuslerp_row_wise off, two
// dimensions at least). Each row is then independent of the others, so
// the executor can stream the tensor in pieces of whole rows.
func nuslerpRows(t *Tensors) bool {
	return t.Global["nuslerp_flatten"] == 0 && t.Global["nuslerp_row_wise"] == 0 &&
		len(t.Shape) >= 2 && numElements(t.Shape) > 0
}

// nuslerpFlat reports whether nuslerp interpolates t as one vector
// (nuslerp_flatten, or a tensor of fewer than two dimensions).
func nuslerpFlat(t *Tensors) bool {
	return (t.Global["nuslerp_flatten"] != 0 || len(t.Shape) < 2) && numElements(t.Shape) > 0
}

// nuslerpCols reports whether nuslerp interpolates t column by column
// (vectors along dimension 0: nuslerp_row_wise without nuslerp_flatten,
// two dimensions at least).
func nuslerpCols(t *Tensors) bool {
	return t.Global["nuslerp_flatten"] == 0 && t.Global["nuslerp_row_wise"] != 0 &&
		len(t.Shape) >= 2 && numElements(t.Shape) > 0
}

// nuslerpStreams is nuslerp's CanAnalyze: every tensor with elements
// (nuslerpRows, nuslerpCols and nuslerpFlat cover them all).
func nuslerpStreams(t *Tensors) bool { return numElements(t.Shape) > 0 }

// nuslerpUnit is nuslerp's PieceUnit: a row of the last dimension for row
// vectors, a slice of dimension 0 for column vectors, a block of
// tensor.SumSquaresAcc for a flattened tensor.
func nuslerpUnit(t *Tensors) int64 {
	switch {
	case nuslerpRows(t):
		return t.Shape[len(t.Shape)-1]
	case nuslerpCols(t):
		return numElements(t.Shape) / t.Shape[0]
	case nuslerpFlat(t):
		return tensor.SumSquaresBlock
	}
	return 0
}

// nuslerpRowAnalysis is the Analysis of row-by-row nuslerp: every row
// carries its own norms and dot product, so there is nothing to gather.
type nuslerpRowAnalysis struct{}

func (nuslerpRowAnalysis) Piece(*Tensors) error      { return nil }
func (nuslerpRowAnalysis) EndPass(int) (bool, error) { return false, nil }

// nuslerpFlatAnalysis gathers the norms and the dot product of a
// flattened tensor's two vectors over its pieces, in the order the
// whole-tensor path adds them: pass 0 sums the squares, pass 1 the
// products of the normalized elements; Merge then applies the
// coefficients piece by piece.
type nuslerpFlatAnalysis struct {
	work   tensor.DType
	a, c   int // the inputs interpolated
	frac   float64
	sq     [2]tensor.SumSquaresAcc
	n0, n1 float32
	dot    float64
	k      nuslerpCoefs
}

func analyzeNuSlerp(t *Tensors) (Analysis, error) {
	if nuslerpRows(t) || len(t.Inputs) == 1 {
		return nuslerpRowAnalysis{}, nil
	}
	a, c, frac, err := nuslerpPair(t)
	if err != nil {
		return nil, err
	}
	if nuslerpCols(t) {
		return newNuslerpColAnalysis(t, a, c, frac), nil
	}
	return &nuslerpFlatAnalysis{work: t.Work, a: a, c: c, frac: frac}, nil
}

// InOrderPass: both passes carry sums from piece to piece.
func (s *nuslerpFlatAnalysis) InOrderPass(int) bool { return true }

func (s *nuslerpFlatAnalysis) Piece(t *Tensors) error {
	v0, v1 := t.Inputs[s.a].Data, t.Inputs[s.c].Data
	switch t.Pass {
	case 0:
		return t.InOrder(func() { s.sq[0].Add(v0); s.sq[1].Add(v1) })
	case 1:
		terms := t.Scratch(len(v0))
		nuslerpTerms(s.work, terms, v0, v1, s.n0, s.n1)
		return t.InOrder(func() { s.dot = sumInOrder(s.dot, terms) })
	}
	return nil
}

func (s *nuslerpFlatAnalysis) EndPass(pass int) (bool, error) {
	if pass == 0 {
		s.n0, s.n1 = nuslerpNorm(s.work, s.sq[0].Sum()), nuslerpNorm(s.work, s.sq[1].Sum())
		return true, nil
	}
	s.k = newNuslerpCoefs(s.work, s.frac, s.dot)
	return false, nil
}

// nuslerpColAnalysis is nuslerpFlatAnalysis for the columns of a matrix
// (the slices along dimension 0 of a tensor) streamed in pieces of whole
// rows: every column has its own sums, added in row order as the
// whole-tensor path adds the gathered column, and its own coefficients.
type nuslerpColAnalysis struct {
	work   tensor.DType
	a, c   int
	frac   float64
	cols   int
	sq     [2]*tensor.SumSquaresCols
	n0, n1 []float32
	dot    []float64
	// c0, c1 and div are the columns' nuslerpCoefs, field by field.
	c0, c1, div []float32
}

func newNuslerpColAnalysis(t *Tensors, a, c int, frac float64) *nuslerpColAnalysis {
	rows := int(t.Shape[0])
	cols := int(numElements(t.Shape)) / rows
	return &nuslerpColAnalysis{work: t.Work, a: a, c: c, frac: frac, cols: cols,
		sq: [2]*tensor.SumSquaresCols{tensor.NewSumSquaresCols(rows, cols), tensor.NewSumSquaresCols(rows, cols)}}
}

// InOrderPass: both passes carry sums from piece to piece.
func (s *nuslerpColAnalysis) InOrderPass(int) bool { return true }

func (s *nuslerpColAnalysis) Piece(t *Tensors) error {
	v0, v1 := t.Inputs[s.a].Data, t.Inputs[s.c].Data
	switch t.Pass {
	case 0:
		return t.InOrder(func() { s.sq[0].Add(v0); s.sq[1].Add(v1) })
	case 1:
		terms := t.Scratch(len(v0))
		for off := 0; off < len(v0); off += s.cols {
			tensor.DivMulRoundVec(s.work, terms[off:off+s.cols], v0[off:off+s.cols], v1[off:off+s.cols], s.n0, s.n1)
		}
		return t.InOrder(func() {
			for off := 0; off < len(terms); off += s.cols {
				for k, x := range terms[off : off+s.cols] {
					s.dot[k] += float64(x)
				}
			}
		})
	}
	return nil
}

func (s *nuslerpColAnalysis) EndPass(pass int) (bool, error) {
	if pass == 0 {
		s.n0, s.n1 = make([]float32, s.cols), make([]float32, s.cols)
		for k := range s.cols {
			s.n0[k], s.n1[k] = nuslerpNorm(s.work, s.sq[0].Sum(k)), nuslerpNorm(s.work, s.sq[1].Sum(k))
		}
		s.sq = [2]*tensor.SumSquaresCols{}
		s.dot = make([]float64, s.cols)
		return true, nil
	}
	s.c0, s.c1, s.div = make([]float32, s.cols), make([]float32, s.cols), make([]float32, s.cols)
	for k, d := range s.dot {
		co := newNuslerpCoefs(s.work, s.frac, d)
		s.c0[k], s.c1[k], s.div[k] = co.c0, co.c1, co.div
	}
	return false, nil
}

// nuslerpPair returns the inputs nuslerp interpolates, A and C, and the
// interpolation factor t = w_C/(w_A + w_C).
func nuslerpPair(t *Tensors) (a, c int, frac float64, err error) {
	if t.Base >= 0 && len(t.Inputs) != 3 {
		return 0, 0, 0, fmt.Errorf("%s: nuslerp with a base model needs two other models, got %d (the base can not be one of the two models to merge)",
			t.Name, len(t.Inputs)-1)
	}
	var pair []int
	for i := range t.Inputs {
		if i != t.Base {
			pair = append(pair, i)
		}
	}
	if len(pair) != 2 {
		return 0, 0, 0, fmt.Errorf("%s: nuslerp merges exactly two models (plus an optional base model), got %d", t.Name, len(pair))
	}
	a, c = pair[0], pair[1]
	wA, wC := t.Inputs[a].Params["weight"], t.Inputs[c].Params["weight"]
	frac = 0.5
	if math.Abs(wA+wC) >= 1e-6 {
		frac = wC / (wA + wC)
	}
	return a, c, frac, nil
}

// mergeNuSlerp interpolates the task vectors (TaskVectors) or the models
// themselves and adds the base back.
func mergeNuSlerp(t *Tensors, out []float32) error {
	if len(t.Inputs) == 1 {
		copy(out, t.Inputs[0].Data)
		return nil
	}
	a, c, frac, err := nuslerpPair(t)
	if err != nil {
		return err
	}
	v0, v1 := t.Inputs[a].Data, t.Inputs[c].Data
	switch st := t.State.(type) {
	case *nuslerpFlatAnalysis:
		var base []float32
		if t.Base >= 0 {
			base = t.Inputs[t.Base].Data
		}
		st.k.apply(t.Work, v0, v1, base, out)
		return nil
	case *nuslerpColAnalysis:
		for off := 0; off < len(out); off += st.cols {
			tensor.CombineDivRoundVec(t.Work, out[off:off+st.cols], v0[off:off+st.cols], v1[off:off+st.cols], st.c0, st.c1, st.div)
		}
	default:
		start, stride, length := nuslerpVectors(t.Shape, len(out), t.Global["nuslerp_flatten"] != 0, t.Global["nuslerp_row_wise"] != 0)
		s := &nuslerpScratch{}
		for _, off := range start {
			s.vector(t.Work, frac, v0, v1, out, off, stride, length)
		}
	}
	if t.Base >= 0 {
		tensor.Add(out, t.Inputs[t.Base].Data)
		t.round(out)
	}
	return nil
}

// nuslerpVectors returns the first element of every vector the
// interpolation treats as a unit, the stride between a vector's elements
// and its length: the whole tensor when flatten; else vectors along the
// last dimension, or along dimension 0 when rowWise (mergekit transposes
// dimension 0 with the last one).
func nuslerpVectors(shape []int64, n int, flatten, rowWise bool) (start []int, stride, length int) {
	switch {
	case flatten || len(shape) < 2 || n == 0:
		return []int{0}, 1, n
	case rowWise:
		length = int(shape[0])
		stride = n / length
		start = make([]int, stride)
		for k := range start {
			start[k] = k
		}
		return start, stride, length
	}
	length = int(shape[len(shape)-1])
	start = make([]int, n/length)
	for k := range start {
		start[k] = k * length
	}
	return start, 1, length
}

// nuslerpScratch holds the gathered vectors of one strided interpolation.
type nuslerpScratch struct{ a, b, r []float32 }

func (s *nuslerpScratch) vector(work tensor.DType, frac float64, v0, v1, out []float32, off, stride, length int) {
	var a, b, res []float32
	if stride == 1 {
		a, b, res = v0[off:off+length], v1[off:off+length], out[off:off+length]
	} else {
		if cap(s.a) < length {
			s.a, s.b, s.r = make([]float32, length), make([]float32, length), make([]float32, length)
		}
		a, b, res = s.a[:length], s.b[:length], s.r[:length]
		for k := range a {
			a[k], b[k] = v0[off+k*stride], v1[off+k*stride]
		}
	}
	nuslerpVector(work, frac, a, b, res)
	if stride != 1 {
		for k, v := range res {
			out[off+k*stride] = v
		}
	}
}

// nuslerpVector interpolates one pair of vectors into res, rounding each
// torch op to the working dtype; res is scratch until the end.
func nuslerpVector(work tensor.DType, frac float64, v0, v1, res []float32) {
	n0 := nuslerpNorm(work, tensor.SumSquares(v0))
	n1 := nuslerpNorm(work, tensor.SumSquares(v1))
	nuslerpTerms(work, res, v0, v1, n0, n1)
	newNuslerpCoefs(work, frac, sumInOrder(0, res)).apply(work, v0, v1, nil, res)
}

// nuslerpNorm is a vector's norm from its sum of squares, rounded, at
// least 1e-7.
func nuslerpNorm(work tensor.DType, sumSquares float64) float32 {
	return max(roundTo(work, float32(math.Sqrt(sumSquares))), 1e-7)
}

// nuslerpTerms sets dst[k] to the k-th term of the normalized vectors'
// dot product, r(r(v0[k]/n0)·r(v1[k]/n1)).
func nuslerpTerms(work tensor.DType, dst, v0, v1 []float32, n0, n1 float32) {
	tensor.DivMulRound(work, dst, v0[:len(dst)], v1[:len(dst)], n0, n1)
}

// sumInOrder adds the terms to s one after another, in float64
// (tensor.SumInOrder: in vector lanes where that rounds nowhere).
func sumInOrder(s float64, terms []float32) float64 { return tensor.SumInOrder(s, terms) }

// nuslerpCoefs are the coefficients of one interpolation, from the dot
// product of the normalized vectors: res = r(r(r(c0·v0)+r(c1·v1))/div),
// where div is 1 when sin θ ≈ 0 (r(x/1) = x: the linear fallback
// r(r(c0·v0)+r(c1·v1))).
type nuslerpCoefs struct{ c0, c1, div float32 }

func newNuslerpCoefs(work tensor.DType, frac, dot float64) nuslerpCoefs {
	r := func(v float32) float32 { return roundTo(work, v) }
	cos := min(max(r(float32(dot)), -1), 1)
	theta := r(float32(math.Acos(float64(cos))))
	sinTheta := r(float32(math.Sin(float64(theta))))
	s0, s1 := float32(1-frac), float32(frac)
	if math.Abs(float64(sinTheta)) < 1e-8 {
		return nuslerpCoefs{c0: s0, c1: s1, div: 1}
	}
	return nuslerpCoefs{
		c0:  r(float32(math.Sin(float64(r(s0 * theta))))),
		c1:  r(float32(math.Sin(float64(r(s1 * theta))))),
		div: sinTheta,
	}
}

// apply writes the interpolation of v0 and v1 into res, plus base unless
// it is nil.
func (k nuslerpCoefs) apply(work tensor.DType, v0, v1, base, res []float32) {
	tensor.CombineDivRound(work, res, v0[:len(res)], v1[:len(res)], base, k.c0, k.c1, k.div)
}
