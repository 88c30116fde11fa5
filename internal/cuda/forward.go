//go:build cuda && linux && amd64

package cuda

import (
	"errors"
	"fmt"

	"github.com/gomerge/gomerge/eval/model"
)

// Upload implements model.Accelerator: it copies a dense model's weights to
// the GPU once (matrices in bfloat16, norms and biases in float32), after
// checking that they fit, and returns a model that scores on the device.
// Every activation of a forward pass stays on the device; the matrix
// products are cuBLAS GEMMs in bfloat16 with float32 accumulation, their
// inputs rounded to bfloat16 first as transformers' bf16 eager forward
// has them, while the residual stream, norms, attention and the
// log-softmax are float32 (log-probs in float64). Only the target tokens'
// log-probs (and, for greedy flags, each row's argmax) are copied back.
func (d *Device) Upload(w *model.DenseWeights) (model.DeviceModel, error) {
	act := actKind(w.Act)
	leave, err := d.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	if err := d.checkFits(fmt.Sprintf("model %s (%d bytes of weights)", w.Name, w.Bytes()), w.Bytes()); err != nil {
		return nil, err
	}
	f := &fwdModel{d: d, w: w, act: act}
	if err := f.upload(); err != nil {
		f.free()
		return nil, fmt.Errorf("model %s: %w", w.Name, err)
	}
	return f, nil
}

// fwdModel is a model uploaded by Upload.
type fwdModel struct {
	d      *Device
	w      *model.DenseWeights
	act    int32
	embed  dmat
	head   dmat
	norm   uint64
	layers []fwdLayer
	bufs   []uint64 // the weights' allocations
	ws     workspace
	closed bool
}

// dmat is a weight matrix [rows, cols] on the device, bfloat16.
type dmat struct {
	p          uint64
	rows, cols int
}

type fwdLayer struct {
	inNorm, postAttnNorm, preFFNorm, postFFNorm, qNorm, kNorm uint64
	q, k, v, o, gate, up, down                                dmat
	qb, kb, vb, ob, gateB, upB, downB                         uint64 // 0: none
}

func (f *fwdModel) matrix(m *model.Matrix, name string) (dmat, error) {
	dm := dmat{rows: m.Rows(), cols: m.Cols()}
	b := m.BF16()
	if err := f.d.alloc(&dm.p, uint64(2*len(b)), name); err != nil {
		return dm, err
	}
	f.bufs = append(f.bufs, dm.p)
	return dm, f.d.copyIn(dm.p, u16s(b))
}

func (f *fwdModel) vector(v []float32, name string) (uint64, error) {
	if v == nil {
		return 0, nil
	}
	var p uint64
	if err := f.d.alloc(&p, uint64(4*max(len(v), 1)), name); err != nil {
		return 0, err
	}
	f.bufs = append(f.bufs, p)
	return p, f.d.copyIn(p, f32s(v))
}

// upload copies the weights; the caller has entered and frees f on error.
func (f *fwdModel) upload() error {
	w := f.w
	var err error
	mat := func(dst *dmat, m *model.Matrix, name string) {
		if err == nil {
			*dst, err = f.matrix(m, name)
		}
	}
	vec := func(dst *uint64, v []float32, name string) {
		if err == nil {
			*dst, err = f.vector(v, name)
		}
	}
	mat(&f.embed, w.Embed, "the embeddings")
	f.head = f.embed
	if w.Head != w.Embed {
		mat(&f.head, w.Head, "the output layer")
	}
	vec(&f.norm, w.Norm, "the final norm")
	f.layers = make([]fwdLayer, len(w.Layers))
	for i, y := range w.Layers {
		l := &f.layers[i]
		p := fmt.Sprintf("layer %d's ", i)
		for _, v := range []struct {
			dst *uint64
			v   []float32
		}{{&l.inNorm, y.InNorm}, {&l.postAttnNorm, y.PostAttnNorm}, {&l.preFFNorm, y.PreFFNorm}, {&l.postFFNorm, y.PostFFNorm},
			{&l.qNorm, y.QNorm}, {&l.kNorm, y.KNorm}, {&l.qb, y.QB}, {&l.kb, y.KB}, {&l.vb, y.VB}, {&l.ob, y.OB},
			{&l.gateB, y.GateB}, {&l.upB, y.UpB}, {&l.downB, y.DownB}} {
			vec(v.dst, v.v, p+"norms and biases")
		}
		for _, m := range []struct {
			dst  *dmat
			m    *model.Matrix
			name string
		}{{&l.q, y.Q, "q_proj"}, {&l.k, y.K, "k_proj"}, {&l.v, y.V, "v_proj"}, {&l.o, y.O, "o_proj"},
			{&l.gate, y.Gate, "gate_proj"}, {&l.up, y.Up, "up_proj"}, {&l.down, y.Down, "down_proj"}} {
			mat(m.dst, m.m, p+m.name)
		}
	}
	return err
}

// free releases the weights and the workspace; the caller has entered.
func (f *fwdModel) free() {
	for _, p := range f.bufs {
		f.d.drv.cuMemFree(p)
	}
	f.bufs = nil
	f.ws.free(f.d)
}

// Close implements model.DeviceModel.
func (f *fwdModel) Close() error {
	leave, err := f.d.enter()
	if err != nil {
		return err
	}
	defer leave()
	if !f.closed {
		f.closed = true
		f.free()
	}
	return nil
}

// maxPassTokens bounds the tokens of one forward pass: sequences are
// batched until they reach it (a longer one runs alone).
const maxPassTokens = 8192

// TailLogProbs implements model.DeviceModel. Sequences run in batches of
// up to maxPassTokens tokens; each is fed whole but for its last id (no
// context is shared between sequences, unlike the CPU's TailLogProbs).
func (f *fwdModel) TailLogProbs(seqs [][]int, tails []int, wantGreedy bool) ([][]float64, [][]bool, error) {
	if len(tails) != len(seqs) {
		return nil, nil, fmt.Errorf("cuda: %d tails for %d sequences", len(tails), len(seqs))
	}
	lp := make([][]float64, len(seqs))
	var greedy [][]bool
	if wantGreedy {
		greedy = make([][]bool, len(seqs))
	}
	leave, err := f.d.enter()
	if err != nil {
		return nil, nil, err
	}
	defer leave()
	if f.closed {
		return nil, nil, errors.New("cuda: model is closed")
	}
	for lo := 0; lo < len(seqs); {
		hi, n := lo, 0
		for hi < len(seqs) && (hi == lo || n+len(seqs[hi])-1 <= maxPassTokens) {
			if tails[hi] < 1 || tails[hi] >= len(seqs[hi]) {
				return nil, nil, fmt.Errorf("cuda: sequence %d: tail of %d tokens, want 1 to %d", hi, tails[hi], len(seqs[hi])-1)
			}
			n += len(seqs[hi]) - 1
			hi++
		}
		if err := f.pass(seqs[lo:hi], tails[lo:hi], lp[lo:hi], greedyPart(greedy, lo, hi)); err != nil {
			return nil, nil, err
		}
		lo = hi
	}
	return lp, greedy, nil
}

func greedyPart(g [][]bool, lo, hi int) [][]bool {
	if g == nil {
		return nil
	}
	return g[lo:hi]
}

// workspace holds one pass's activations in one device allocation.
type workspace struct {
	base                                                                     uint64
	bytes                                                                    uint64
	tokens                                                                   int // the pass size it was laid out for
	ids, x, h, hb, q, k, v, a, o, g, u, cos, sin, logits, targets, out, best uint64
	headRows                                                                 int
}

func (ws *workspace) free(d *Device) {
	if ws.base != 0 {
		d.drv.cuMemFree(ws.base)
	}
	*ws = workspace{}
}

// layout sizes the workspace for n tokens, reallocating when it grows.
func (f *fwdModel) layout(n int) error {
	ws := &f.ws
	if ws.base != 0 && n <= ws.tokens {
		return nil
	}
	w := f.w
	qDim, kvDim := w.Heads*w.HeadDim, w.KVHeads*w.HeadDim
	widest := max(w.Hidden, qDim, w.Inter)
	ropes := 0
	for _, r := range w.RopeOf {
		ropes = max(ropes, r+1)
	}
	headRows := max(8, min(n, (256<<20)/(4*w.Vocab)))
	var off uint64
	at := func(bytes int) uint64 {
		p := off
		off += (uint64(bytes) + 255) &^ 255
		return p
	}
	lay := workspace{tokens: n, headRows: headRows}
	lay.ids = at(4 * n)
	lay.x = at(4 * n * w.Hidden)
	lay.h = at(4 * n * w.Hidden)
	lay.hb = at(2 * n * widest)
	lay.q = at(4 * n * qDim)
	lay.k = at(4 * n * kvDim)
	lay.v = at(4 * n * kvDim)
	lay.a = at(4 * n * qDim)
	lay.o = at(4 * n * w.Hidden)
	lay.g = at(4 * n * w.Inter)
	lay.u = at(4 * n * w.Inter)
	lay.cos = at(4 * ropes * n * w.HeadDim / 2)
	lay.sin = at(4 * ropes * n * w.HeadDim / 2)
	lay.logits = at(4 * headRows * w.Vocab)
	lay.targets = at(4 * n)
	lay.out = at(8 * n)
	lay.best = at(4 * n)
	ws.free(f.d)
	var base uint64
	if err := f.d.alloc(&base, off, fmt.Sprintf("the activations of %d tokens of model %s", n, w.Name)); err != nil {
		return err
	}
	for _, p := range []*uint64{&lay.ids, &lay.x, &lay.h, &lay.hb, &lay.q, &lay.k, &lay.v, &lay.a, &lay.o, &lay.g, &lay.u,
		&lay.cos, &lay.sin, &lay.logits, &lay.targets, &lay.out, &lay.best} {
		*p += base
	}
	lay.base, lay.bytes = base, off
	*ws = lay
	return nil
}

// pass runs one batch of sequences through the model and scores their
// tails into lp (and greedy, if not nil); the caller has entered.
func (f *fwdModel) pass(seqs [][]int, tails []int, lp [][]float64, greedy [][]bool) error {
	d, w := f.d, f.w
	n := 0
	offs := make([]int, len(seqs))
	for i, s := range seqs {
		offs[i] = n
		n += len(s) - 1
	}
	if err := f.layout(n); err != nil {
		return err
	}
	ws := &f.ws
	ids := make([]int32, 0, n)
	pos := make([]int, 0, n)
	for _, s := range seqs {
		for i, id := range s[:len(s)-1] {
			ids = append(ids, int32(id))
			pos = append(pos, i)
		}
	}
	if err := d.copyIn(ws.ids, i32s(ids)); err != nil {
		return err
	}
	half := w.HeadDim / 2
	cos, sin := make([]float32, n*half), make([]float32, n*half)
	done := map[int]bool{}
	for _, r := range w.RopeOf {
		if done[r] {
			continue
		}
		done[r] = true
		w.RopeTables(r, pos, cos, sin)
		at := uint64(4 * r * n * half)
		if err := d.copyIn(ws.cos+at, f32s(cos)); err != nil {
			return err
		}
		if err := d.copyIn(ws.sin+at, f32s(sin)); err != nil {
			return err
		}
	}
	scale := w.EmbedScale
	if scale == 0 {
		scale = 1
	}
	if err := d.embedDev(ws.x, f.embed.p, ws.ids, n, w.Hidden, scale); err != nil {
		return err
	}
	for li := range f.layers {
		if err := f.layer(li, n, seqs, offs); err != nil {
			return fmt.Errorf("model %s, layer %d: %w", w.Name, li, err)
		}
	}
	if err := d.rmsNormDev(ws.x, ws.x, f.norm, n, w.Hidden, w.Eps); err != nil {
		return err
	}
	return f.score(seqs, tails, offs, lp, greedy)
}

// linear computes out = in·Wᵀ (+ bias) for rows rows: in (float32) is
// rounded to bfloat16 into ws.hb first.
func (f *fwdModel) linear(out, in uint64, rows int, m dmat, bias uint64) error {
	d := f.d
	if err := d.toBF16Dev(f.ws.hb, in, rows*m.cols); err != nil {
		return err
	}
	return f.linearBF16(out, rows, m, bias)
}

// linearBF16 is linear on ws.hb as it is.
func (f *fwdModel) linearBF16(out uint64, rows int, m dmat, bias uint64) error {
	if err := f.d.gemmNT(rows, m.rows, m.cols, f.ws.hb, m.p, out); err != nil {
		return err
	}
	if bias != 0 {
		return f.d.addBiasDev(out, bias, rows, m.rows)
	}
	return nil
}

// layer runs decoder layer li over the n tokens of the pass.
func (f *fwdModel) layer(li, n int, seqs [][]int, offs []int) error {
	d, w, ws, y := f.d, f.w, &f.ws, &f.layers[li]
	H, hd := w.Hidden, w.HeadDim
	qDim, kvDim := w.Heads*hd, w.KVHeads*hd
	if err := d.rmsNormDev(ws.h, ws.x, y.inNorm, n, H, w.Eps); err != nil {
		return err
	}
	if err := d.toBF16Dev(ws.hb, ws.h, n*H); err != nil {
		return err
	}
	for _, p := range []struct {
		out  uint64
		m    dmat
		bias uint64
	}{{ws.q, y.q, y.qb}, {ws.k, y.k, y.kb}, {ws.v, y.v, y.vb}} {
		if err := f.linearBF16(p.out, n, p.m, p.bias); err != nil {
			return err
		}
	}
	if w.QKNorm {
		if err := d.rmsNormDev(ws.q, ws.q, y.qNorm, n*w.Heads, hd, w.Eps); err != nil {
			return err
		}
		if err := d.rmsNormDev(ws.k, ws.k, y.kNorm, n*w.KVHeads, hd, w.Eps); err != nil {
			return err
		}
	}
	at := uint64(4 * w.RopeOf[li] * n * (hd / 2))
	if err := d.ropeDev(ws.q, ws.cos+at, ws.sin+at, n, w.Heads, hd); err != nil {
		return err
	}
	if err := d.ropeDev(ws.k, ws.cos+at, ws.sin+at, n, w.KVHeads, hd); err != nil {
		return err
	}
	window := 0
	if w.Sliding[li] {
		window = w.Window
	}
	for i, s := range seqs {
		o := uint64(offs[i])
		p := attnParams{tokens: len(s) - 1, heads: w.Heads, kvHeads: w.KVHeads, headDim: hd, scale: w.Scaling,
			window: window, softcap: w.AttnSoftcap}
		if err := d.attentionDev(ws.a+4*o*uint64(qDim), ws.q+4*o*uint64(qDim), ws.k+4*o*uint64(kvDim), ws.v+4*o*uint64(kvDim), p); err != nil {
			return err
		}
	}
	if err := f.linear(ws.o, ws.a, n, y.o, y.ob); err != nil {
		return err
	}
	ffNorm := y.postAttnNorm
	if w.Sandwich {
		if err := d.rmsNormDev(ws.o, ws.o, y.postAttnNorm, n, H, w.Eps); err != nil {
			return err
		}
		ffNorm = y.preFFNorm
	}
	if err := d.addInPlaceDev(ws.x, ws.o, n*H); err != nil {
		return err
	}
	if err := d.rmsNormDev(ws.h, ws.x, ffNorm, n, H, w.Eps); err != nil {
		return err
	}
	if err := d.toBF16Dev(ws.hb, ws.h, n*H); err != nil {
		return err
	}
	if err := f.linearBF16(ws.g, n, y.gate, y.gateB); err != nil {
		return err
	}
	if err := f.linearBF16(ws.u, n, y.up, y.upB); err != nil {
		return err
	}
	if err := d.actDev(f.act, ws.g, ws.u, n*w.Inter); err != nil {
		return err
	}
	if err := f.linear(ws.o, ws.g, n, y.down, y.downB); err != nil {
		return err
	}
	if w.Sandwich {
		if err := d.rmsNormDev(ws.o, ws.o, y.postFFNorm, n, H, w.Eps); err != nil {
			return err
		}
	}
	return d.addInPlaceDev(ws.x, ws.o, n*H)
}

// score runs the output layer over the rows that predict tail tokens,
// headRows at a time, and copies back their log-probs (and, for greedy,
// the index of each row's first maximum).
func (f *fwdModel) score(seqs [][]int, tails, offs []int, lp [][]float64, greedy [][]bool) error {
	d, w, ws := f.d, f.w, &f.ws
	H, V := w.Hidden, w.Vocab
	// rows[j] is the pass row that predicts target j.
	var rows, targets []int32
	for i, s := range seqs {
		L := len(s) - 1
		for k := L - tails[i]; k < L; k++ {
			rows = append(rows, int32(offs[i]+k))
			targets = append(targets, int32(s[k+1]))
		}
	}
	if err := d.copyIn(ws.targets, i32s(targets)); err != nil {
		return err
	}
	for lo := 0; lo < len(rows); lo += ws.headRows {
		hi := min(len(rows), lo+ws.headRows)
		for j := lo; j < hi; { // runs of consecutive rows: one conversion each
			e := j + 1
			for e < hi && rows[e] == rows[e-1]+1 {
				e++
			}
			if err := d.toBF16Dev(ws.hb+uint64(2*(j-lo)*H), ws.x+uint64(4*int(rows[j])*H), (e-j)*H); err != nil {
				return err
			}
			j = e
		}
		if err := d.gemmNT(hi-lo, V, H, ws.hb, f.head.p, ws.logits); err != nil {
			return err
		}
		if w.FinalSoftcap > 0 {
			if err := d.softcapDev(ws.logits, (hi-lo)*V, w.FinalSoftcap); err != nil {
				return err
			}
		}
		var best uint64
		if greedy != nil {
			best = ws.best + uint64(4*lo)
		}
		if err := d.logProbsGreedyDev(ws.out+uint64(8*lo), best, ws.logits, ws.targets+uint64(4*lo), hi-lo, V); err != nil {
			return err
		}
	}
	out := make([]float64, len(rows))
	if err := d.copyOut(f64s(out), ws.out); err != nil {
		return err
	}
	var best []int32
	if greedy != nil {
		best = make([]int32, len(rows))
		if err := d.copyOut(i32s(best), ws.best); err != nil {
			return err
		}
	}
	j := 0
	for i := range seqs {
		lp[i] = out[j : j+tails[i] : j+tails[i]]
		if greedy != nil {
			greedy[i] = make([]bool, tails[i])
			for k := range tails[i] {
				greedy[i][k] = best[j+k] == targets[j+k]
			}
		}
		j += tails[i]
	}
	return nil
}
