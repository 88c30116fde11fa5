package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// ErrNotOnDevice is wrapped by UseDevice's error for a model whose forward
// pass the accelerator does not run (a mixture of experts): the model
// keeps scoring on the CPU.
var ErrNotOnDevice = errors.New("forward pass not supported on the device")

// Accelerator runs the forward pass of dense models on another device, such
// as a GPU (internal/cuda's Device is one). Upload copies a model's weights
// to the device once; the DeviceModel it returns scores with them.
type Accelerator interface {
	Upload(w *DenseWeights) (DeviceModel, error)
}

// DeviceModel is a model uploaded by an Accelerator.
type DeviceModel interface {
	// TailLogProbs is Model.TailLogProbs computed on the device: the
	// caller has checked seqs and tails. greedy is filled only when
	// wantGreedy is set (nil otherwise).
	TailLogProbs(seqs [][]int, tails []int, wantGreedy bool) (lp [][]float64, greedy [][]bool, err error)
	// Close frees the device memory.
	Close() error
}

// DenseWeights describes a dense decoder model for an Accelerator: its
// shapes, the options of its forward pass and its weights as this package
// holds them. Norm weights are as the forward pass uses them (Gemma's 1+w
// already added).
type DenseWeights struct {
	Name                                 string // for error messages: the model's path or config
	Vocab, Hidden, Inter, Heads, KVHeads int
	HeadDim                              int
	Eps                                  float64
	// EmbedScale multiplies the embeddings (Gemma's sqrt(hidden) as a
	// float32); 0 means none.
	EmbedScale float32
	// Act is the MLP activation: "silu", "gelu_tanh" or "gelu" (exact,
	// with erf), applied to the gate and multiplied by up.
	Act string
	// Scaling multiplies attention scores; AttnSoftcap, if not 0, caps
	// them (cap·tanh(x/cap)) before the softmax.
	Scaling, AttnSoftcap float32
	// FinalSoftcap, if not 0, caps the logits (Gemma 2's
	// final_logit_softcapping) before the log-softmax.
	FinalSoftcap float32
	// Window is the sliding window of the layers whose Sliding entry is
	// set: a query sees itself and the Window-1 positions before it.
	Window  int
	Sliding []bool
	// QKNorm normalizes each head of q and k (QNorm, KNorm); Sandwich
	// adds the post-attention, pre- and post-feedforward norms of Gemma 2
	// and 3 (otherwise PostAttnNorm is the norm before the MLP).
	QKNorm, Sandwich bool
	Embed, Head      *Matrix // the same matrix when the embeddings are tied
	Norm             []float32
	Layers           []DenseLayer
	// RopeOf[l] numbers layer l's rotary embedding among the model's
	// distinct ones (RopeTables takes the number).
	RopeOf []int
	ropes  []*rope
}

// DenseLayer is one layer's weights; biases are nil where the model has
// none.
type DenseLayer struct {
	InNorm, PostAttnNorm, PreFFNorm, PostFFNorm, QNorm, KNorm []float32
	Q, K, V, O, Gate, Up, Down                                *Matrix
	QB, KB, VB, OB, GateB, UpB, DownB                         []float32
}

// Matrix is a weight [Rows, Cols] of a model, row-major.
type Matrix struct{ m *matrix }

// Rows returns the number of rows (output features).
func (w *Matrix) Rows() int { return w.m.rows }

// Cols returns the number of columns (input features).
func (w *Matrix) Cols() int { return w.m.cols }

// BF16 returns the weight as bfloat16 bits, rounded to nearest even: the
// stored bits of a bf16 checkpoint unchanged (widened to float32 and back
// exactly), a float32 or float16 one rounded as transformers' bf16 does.
func (w *Matrix) BF16() []uint16 {
	out := make([]uint16, w.m.rows*w.m.cols)
	if w.m.raw != nil && w.m.dt == tensor.BF16 {
		for i := range out {
			out[i] = uint16(w.m.raw[2*i]) | uint16(w.m.raw[2*i+1])<<8
		}
		return out
	}
	buf := make([]float32, w.m.cols)
	for r := range w.m.rows {
		row := w.m.rowsInto(r, r+1, buf)
		for i, v := range row {
			out[r*w.m.cols+i] = tensor.F32ToBF16(v)
		}
	}
	return out
}

// RopeTables fills cos and sin ([len(pos), HeadDim/2] each) with the angles
// of rotary embedding r at the positions pos, as the CPU forward pass
// computes them (float32 angle inv_freq·pos, its cosine and sine).
func (w *DenseWeights) RopeTables(r int, pos []int, cos, sin []float32) {
	inv := w.ropes[r].invFreq
	half := len(inv)
	for t, p := range pos {
		for i, f := range inv {
			a := float64(f * float32(p))
			cos[t*half+i], sin[t*half+i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
}

// Bytes returns the device memory the weights take: matrices in bf16,
// vectors in float32.
func (w *DenseWeights) Bytes() uint64 {
	var n uint64
	mat := func(m *Matrix) {
		if m != nil {
			n += 2 * uint64(m.Rows()*m.Cols())
		}
	}
	vec := func(vs ...[]float32) {
		for _, v := range vs {
			n += 4 * uint64(len(v))
		}
	}
	mat(w.Embed)
	if w.Head != w.Embed {
		mat(w.Head)
	}
	vec(w.Norm)
	for _, y := range w.Layers {
		for _, m := range []*Matrix{y.Q, y.K, y.V, y.O, y.Gate, y.Up, y.Down} {
			mat(m)
		}
		vec(y.InNorm, y.PostAttnNorm, y.PreFFNorm, y.PostFFNorm, y.QNorm, y.KNorm, y.QB, y.KB, y.VB, y.OB, y.GateB, y.UpB, y.DownB)
	}
	return n
}

// denseWeights describes m for an accelerator, or says why it cannot run
// there.
func (m *Model) denseWeights(name string) (*DenseWeights, error) {
	c := m.cfg
	if c.moe != nil {
		return nil, fmt.Errorf("%w: %s is a mixture of experts", ErrNotOnDevice, c.family)
	}
	w := &DenseWeights{Name: name, Vocab: c.vocab, Hidden: c.hidden, Inter: c.inter, Heads: c.heads, KVHeads: c.kvHeads,
		HeadDim: c.headDim, Eps: c.eps, Scaling: float32(c.scaling), AttnSoftcap: float32(c.attnCap), FinalSoftcap: float32(c.finalCap), Window: c.window,
		Sliding: c.sliding, QKNorm: c.qkNorm, Sandwich: c.sandwich, Norm: m.norm, Embed: &Matrix{m.embed}}
	if c.embScale {
		w.EmbedScale = float32(math.Sqrt(float64(c.hidden)))
	}
	switch c.act {
	case "silu", "swish":
		w.Act = "silu"
	case "gelu_pytorch_tanh", "gelu_tanh", "gelu_new":
		w.Act = "gelu_tanh"
	default:
		w.Act = "gelu"
	}
	w.Head = w.Embed
	if m.head != m.embed {
		w.Head = &Matrix{m.head}
	}
	idx := map[*rope]int{}
	for _, r := range c.ropes {
		i, ok := idx[r]
		if !ok {
			i = len(w.ropes)
			idx[r] = i
			w.ropes = append(w.ropes, r)
		}
		w.RopeOf = append(w.RopeOf, i)
	}
	for _, y := range m.layers {
		w.Layers = append(w.Layers, DenseLayer{InNorm: y.inNorm, PostAttnNorm: y.postAttnNorm, PreFFNorm: y.preFFNorm,
			PostFFNorm: y.postFFNorm, QNorm: y.qNorm, KNorm: y.kNorm,
			Q: &Matrix{y.q}, K: &Matrix{y.k}, V: &Matrix{y.v}, O: &Matrix{y.o},
			Gate: &Matrix{y.gate}, Up: &Matrix{y.up}, Down: &Matrix{y.down},
			QB: y.qb, KB: y.kb, VB: y.vb, OB: y.ob, GateB: y.gateB, UpB: y.upB, DownB: y.downB})
	}
	return w, nil
}

// UseDevice uploads the model to an accelerator: from then on LogProbs,
// LogProbsBatch, ContinuationLogProbs and TailLogProbs run there, while
// Logits, HiddenStates, sessions and generation stay on the CPU (which
// keeps its copy of the weights). name identifies the model in errors,
// such as the device lacking memory for it. A model the accelerator does
// not support gets an error wrapping ErrNotOnDevice and stays on the CPU.
// Close frees the device's copy.
func (m *Model) UseDevice(a Accelerator, name string) error {
	w, err := m.denseWeights(name)
	if err != nil {
		return err
	}
	dm, err := a.Upload(w)
	if err != nil {
		return err
	}
	if m.dev != nil {
		m.dev.Close()
	}
	m.dev = dm
	return nil
}

// OnDevice says whether scoring runs on an accelerator (UseDevice).
func (m *Model) OnDevice() bool { return m.dev != nil }

// Close frees what UseDevice uploaded; the model goes on scoring on the
// CPU. A model without a device has nothing to close.
func (m *Model) Close() error {
	if m.dev == nil {
		return nil
	}
	err := m.dev.Close()
	m.dev = nil
	return err
}

// deviceLogProbs is LogProbsBatch on the device: every position scored.
func (m *Model) deviceLogProbs(seqs [][]int) ([][]float64, error) {
	var in [][]int
	var tails []int
	var at []int // index in in, or -1 for a one-token sequence
	for _, ids := range seqs {
		if len(ids) < 2 {
			at = append(at, -1)
			continue
		}
		at = append(at, len(in))
		in = append(in, ids)
		tails = append(tails, len(ids)-1)
	}
	out := make([][]float64, len(seqs))
	var lp [][]float64
	if len(in) > 0 {
		var err error
		if lp, _, err = m.dev.TailLogProbs(in, tails, false); err != nil {
			return nil, err
		}
	}
	for i, j := range at {
		if j < 0 {
			out[i] = []float64{}
		} else {
			out[i] = lp[j]
		}
	}
	return out, nil
}

// deviceContinuations is ContinuationLogProbs on the device: each
// continuation runs with its own copy of the context, the tail of one
// sequence.
func (m *Model) deviceContinuations(context []int, conts [][]int) ([][]float64, error) {
	seqs := make([][]int, len(conts))
	tails := make([]int, len(conts))
	for i, ids := range conts {
		if err := m.check(ids); err != nil {
			return nil, fmt.Errorf("continuation %d: %w", i, err)
		}
		seqs[i] = append(append(make([]int, 0, len(context)+len(ids)), context...), ids...)
		tails[i] = len(ids)
	}
	lp, _, err := m.dev.TailLogProbs(seqs, tails, false)
	return lp, err
}
