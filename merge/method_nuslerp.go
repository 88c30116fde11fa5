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
var NuSlerp = &Method{
	Name:   "nuslerp",
	Pretty: "NuSLERP",
	Base:   BaseOptional,
	Global: []Param{
		{Name: "nuslerp_row_wise", Default: 0},
		{Name: "nuslerp_flatten", Default: 1},
	},
	PerModel:   []Param{{Name: "weight", Required: true}},
	MinInputs:  1,
	MaxInputs:  3,
	EmbedRule:  EmbedCommon,
	Merge:      mergeNuSlerp,
	Analyze:    analyzeNuSlerp,
	CanAnalyze: nuslerpRows,
	PieceUnit:  nuslerpUnit,
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

// nuslerpUnit is nuslerp's PieceUnit: a row when it streams, else none.
func nuslerpUnit(t *Tensors) int64 {
	if !nuslerpRows(t) {
		return 0
	}
	return t.Shape[len(t.Shape)-1]
}

// nuslerpRowAnalysis is the Analysis of row-by-row nuslerp: every row
// carries its own norms and dot product, so there is nothing to gather.
type nuslerpRowAnalysis struct{}

func analyzeNuSlerp(*Tensors) (Analysis, error) { return nuslerpRowAnalysis{}, nil }

func (nuslerpRowAnalysis) Piece(*Tensors) error      { return nil }
func (nuslerpRowAnalysis) EndPass(int) (bool, error) { return false, nil }

func mergeNuSlerp(t *Tensors, out []float32) error {
	if len(t.Inputs) == 1 {
		copy(out, t.Inputs[0].Data)
		return nil
	}
	if t.Base >= 0 && len(t.Inputs) != 3 {
		return fmt.Errorf("%s: nuslerp with a base model needs two other models, got %d (the base can not be one of the two models to merge)",
			t.Name, len(t.Inputs)-1)
	}
	var pair []int
	for i := range t.Inputs {
		if i != t.Base {
			pair = append(pair, i)
		}
	}
	if len(pair) != 2 {
		return fmt.Errorf("%s: nuslerp merges exactly two models (plus an optional base model), got %d", t.Name, len(pair))
	}
	wA, wC := t.Inputs[pair[0]].Params["weight"], t.Inputs[pair[1]].Params["weight"]
	frac := 0.5
	if math.Abs(wA+wC) >= 1e-6 {
		frac = wC / (wA + wC)
	}
	v0, v1 := t.Inputs[pair[0]].Data, t.Inputs[pair[1]].Data
	var base []float32
	if t.Base >= 0 {
		base = t.Inputs[t.Base].Data
		v0, v1 = subRound(t, v0, base), subRound(t, v1, base)
	}
	start, stride, length := nuslerpVectors(t.Shape, len(out), t.Global["nuslerp_flatten"] != 0, t.Global["nuslerp_row_wise"] != 0)
	s := &nuslerpScratch{}
	for _, off := range start {
		s.vector(t.Work, frac, v0, v1, out, off, stride, length)
	}
	if base != nil {
		tensor.Add(out, base)
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
	nuslerpPair(work, frac, a, b, res)
	if stride != 1 {
		for k, v := range res {
			out[off+k*stride] = v
		}
	}
}

// nuslerpPair interpolates one pair of vectors into res, rounding each
// torch op to the working dtype.
func nuslerpPair(work tensor.DType, frac float64, v0, v1, res []float32) {
	r := func(v float32) float32 { return roundTo(work, v) }
	n0 := max(r(float32(math.Sqrt(tensor.SumSquares(v0)))), 1e-7)
	n1 := max(r(float32(math.Sqrt(tensor.SumSquares(v1)))), 1e-7)
	var dot float64
	for k := range v0 {
		dot += float64(r(r(v0[k]/n0) * r(v1[k]/n1)))
	}
	cos := min(max(r(float32(dot)), -1), 1)
	theta := r(float32(math.Acos(float64(cos))))
	sinTheta := r(float32(math.Sin(float64(theta))))
	s0, s1 := float32(1-frac), float32(frac)
	if math.Abs(float64(sinTheta)) < 1e-8 {
		for k := range res {
			res[k] = r(r(s0*v0[k]) + r(s1*v1[k]))
		}
		return
	}
	c0 := r(float32(math.Sin(float64(r(s0 * theta)))))
	c1 := r(float32(math.Sin(float64(r(s1 * theta)))))
	for k := range res {
		res[k] = r(r(r(c0*v0[k])+r(c1*v1[k])) / sinTheta)
	}
}
