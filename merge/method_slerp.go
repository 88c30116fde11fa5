package merge

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// Slerp is mergekit's "slerp" method: spherical linear interpolation
// between the base model (t = 0) and one other model (t = 1), with the
// whole tensor taken as one vector (Shoemake 1985;
// https://en.wikipedia.org/wiki/Slerp):
//
//	u0 = v0/‖v0‖, u1 = v1/‖v1‖ (unnormalised when ‖·‖ ≤ 1e-8)
//	d  = u0·u1;  if |d| > 0.9995: R = (1−t)·v0 + t·v1
//	θ  = acos d; R = sin((1−t)θ)/sin θ · v0 + sin(tθ)/sin θ · v1
//
// As in mergekit the computation runs in float32 whatever the working
// dtype (mergekit does it in NumPy) and is rounded to the working dtype at
// the end. A tensor present in only one input is returned unchanged.
var Slerp = &Method{
	Name:      "slerp",
	Pretty:    "SLERP",
	URL:       "https://en.wikipedia.org/wiki/Slerp",
	Base:      BaseRequired,
	Global:    []Param{{Name: "t", Required: true}},
	MinInputs: 1,
	MaxInputs: 2,
	EmbedRule: EmbedCommon,
	Merge:     mergeSlerp,
	Analyze:   analyzeSlerp,
	// Stored inputs: the merge pass decodes both in blocks that stay in
	// the L1 cache with the result, instead of the executor decoding
	// whole pieces that Merge copies, scales and adds in separate passes.
	StoredBF16: true,
}

// slerpState holds the whole-tensor sums slerp needs.
type slerpState struct{ ss0, ss1, dot float64 }

// slerpAnalysis sums slerp's norms and dot product piece by piece; the
// pieces' sums are added in piece order, so the totals do not depend on
// how many goroutines computed them.
type slerpAnalysis struct {
	pieces []slerpState
	total  slerpState
}

func analyzeSlerp(t *Tensors) (Analysis, error) {
	return &slerpAnalysis{pieces: make([]slerpState, t.Pieces)}, nil
}

func (a *slerpAnalysis) Piece(t *Tensors) error {
	if len(t.Inputs) != 2 || t.Base < 0 {
		return nil
	}
	v0, err := slerpInput(t, t.Base)
	if err != nil {
		return err
	}
	v1, err := slerpInput(t, 1-t.Base)
	if err != nil {
		return err
	}
	a.pieces[t.Piece] = slerpState{tensor.SumSquares(v0), tensor.SumSquares(v1), tensor.Dot(v0, v1)}
	return nil
}

// slerpInput returns input i's values: Data, or its stored bytes decoded
// into scratch when the inputs come stored (exact: the working dtype is
// bfloat16).
func slerpInput(t *Tensors, i int) ([]float32, error) {
	if !t.Stored {
		return t.Inputs[i].Data, nil
	}
	raw := t.Inputs[i].BF16
	v := t.Scratch(len(raw) / 2)
	return v, tensor.Decode(v, raw, tensor.BF16)
}

func (a *slerpAnalysis) EndPass(int) (bool, error) {
	for _, p := range a.pieces {
		a.total.ss0 += p.ss0
		a.total.ss1 += p.ss1
		a.total.dot += p.dot
	}
	return false, nil
}

func init() { Register(Slerp) }

func mergeSlerp(t *Tensors, out []float32) error {
	if t.Stored {
		return mergeSlerpStored(t, out)
	}
	if len(t.Inputs) == 1 {
		copy(out, t.Inputs[0].Data)
		return nil
	}
	if t.Base < 0 {
		return fmt.Errorf("slerp: base model is not among the inputs of %s", t.Name)
	}
	v0 := t.Inputs[t.Base].Data
	v1 := t.Inputs[1-t.Base].Data
	var st *slerpState
	if a, ok := t.State.(*slerpAnalysis); ok {
		st = &a.total
	} else {
		st = &slerpState{tensor.SumSquares(v0), tensor.SumSquares(v1), tensor.Dot(v0, v1)}
	}
	s0, s1 := slerpCoefficients(t.Global["t"], st)
	// out[j] = float32(s0·v0[j]) + float32(s1·v1[j]): Axpy multiplies, then
	// adds, without fusing.
	copy(out, v0)
	tensor.Scale(out, s0)
	tensor.Axpy(out, s1, v1)
	t.round(out)
	return nil
}

// slerpBlock is the block of elements mergeSlerpStored merges at a time:
// the result and one decoded input, 16 KiB, stay in the L1 cache.
const slerpBlock = 2048

// mergeSlerpStored is mergeSlerp on stored bfloat16 inputs
// (Tensors.Stored), block by block: v0 decoded into out, scaled, v1
// decoded and added. Every step is element-wise, so the blocks give the
// bytes of whole pieces.
func mergeSlerpStored(t *Tensors, out []float32) error {
	if len(t.Inputs) == 1 {
		return tensor.Decode(out, t.Inputs[0].BF16, tensor.BF16)
	}
	if t.Base < 0 {
		return fmt.Errorf("slerp: base model is not among the inputs of %s", t.Name)
	}
	a, ok := t.State.(*slerpAnalysis)
	if !ok {
		return fmt.Errorf("slerp: internal error: stored inputs of %s without their analysis", t.Name)
	}
	s0, s1 := slerpCoefficients(t.Global["t"], &a.total)
	raw0, raw1 := t.Inputs[t.Base].BF16, t.Inputs[1-t.Base].BF16
	var x [slerpBlock]float32
	for lo := 0; lo < len(out); lo += slerpBlock {
		end := min(len(out), lo+slerpBlock)
		o, v1 := out[lo:end], x[:end-lo]
		if err := tensor.Decode(o, raw0[2*lo:2*end], tensor.BF16); err != nil {
			return err
		}
		if err := tensor.Decode(v1, raw1[2*lo:2*end], tensor.BF16); err != nil {
			return err
		}
		tensor.Scale(o, s0)
		tensor.Axpy(o, s1, v1)
		t.roundOut(o)
	}
	return nil
}

// slerpCoefficients returns the factors of v0 and v1. The dot product of
// the unit vectors is a float32 value as in NumPy; the trigonometry runs
// in float64 as NumPy 1.x promotes float32 scalars times Python floats.
func slerpCoefficients(t float64, st *slerpState) (float32, float32) {
	n0 := math.Sqrt(st.ss0)
	n1 := math.Sqrt(st.ss1)
	if n0 <= 1e-8 {
		n0 = 1
	}
	if n1 <= 1e-8 {
		n1 = 1
	}
	d := float64(float32(st.dot / (n0 * n1)))
	if math.Abs(d) > 0.9995 {
		return float32(1 - t), float32(t)
	}
	theta := float64(float32(math.Acos(d)))
	sinTheta := float64(float32(math.Sin(theta)))
	thetaT := theta * t
	return float32(math.Sin(theta-thetaT) / sinTheta), float32(math.Sin(thetaT) / sinTheta)
}
