//go:build cuda && linux && amd64

package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// Device-side launchers of the forward-pass kernels, for the forward pass
// on device buffers: every pointer is a device address (float32 arrays
// unless said), each launches on stream 0, and the caller has entered and
// synchronizes later. The exported wrappers below (ActMul, Attention,
// LogProbs, EmbedBF16, AddBias, Softcap) copy host slices through
// d.scratch to test them. The kernels are in kernels.cu from gm_act_mul
// on; they agree with eval/model's float64 formulas to a few float32
// ulps (fwdkernels_test.go gives each tolerance), not bit for bit.

// Activations of actDev.
const (
	actSiLU     int32 = 0 // x·sigmoid(x)
	actGELUTanh int32 = 1 // 0.5x(1+tanh(√(2/π)(x+0.044715x³)))
	actGELUErf  int32 = 2 // 0.5x(1+erf(x/√2))
)

// actKind maps a config's hidden_act to actDev's kind as eval/model's
// activate does: anything but the SiLU and tanh-GELU names is exact GELU.
func actKind(act string) int32 {
	switch act {
	case "silu", "swish":
		return actSiLU
	case "gelu_pytorch_tanh", "gelu_tanh", "gelu_new":
		return actGELUTanh
	}
	return actGELUErf
}

// actDev sets g[i] = act(g[i])·u[i] for n float32s.
func (d *Device) actDev(kind int32, g, u uint64, n int) error {
	if kind < actSiLU || kind > actGELUErf {
		return fmt.Errorf("cuda: activation kind %d", kind)
	}
	if n == 0 {
		return nil
	}
	return d.launch(actMulArgs(g, u, uint64(n), kind), n, d.streams[0])
}

// attnParams describes one sequence's causal attention on the device.
type attnParams struct {
	tokens                  int     // new tokens (queries)
	past                    int     // positions cached before the first new token
	heads, kvHeads, headDim int     // GQA: query head h reads kv head h/(heads/kvHeads)
	scale                   float32 // scores are q·k·scale
	window                  int     // 0: no sliding window; else query at position p sees keys max(0,p-window+1)..p
	softcap                 float32 // 0: none; else scores become softcap·tanh(score/softcap) after scaling
}

// check rejects shapes gm_attention cannot run: GQA needs heads to be a
// multiple of kvHeads, and the tiles (attnTiles) head sizes up to
// maxHeadDim.
func (p attnParams) check() error {
	if p.tokens < 0 || p.past < 0 || p.window < 0 || p.heads <= 0 || p.kvHeads <= 0 || p.heads%p.kvHeads != 0 ||
		p.headDim <= 0 || p.headDim > maxHeadDim {
		return fmt.Errorf("cuda: attention of %d tokens after %d, %d heads over %d kv heads of %d (at most %d), window %d",
			p.tokens, p.past, p.heads, p.kvHeads, p.headDim, maxHeadDim, p.window)
	}
	return nil
}

// attentionDev: q [tokens, heads·headDim], k and v [past+tokens,
// kvHeads·headDim] (the whole cache, new tokens last), out [tokens,
// heads·headDim]; out = softmax(causal scores)·v per head, one block per
// (head, query tile).
func (d *Device) attentionDev(out, q, k, v uint64, p attnParams) error {
	if err := p.check(); err != nil {
		return err
	}
	if p.tokens == 0 {
		return nil
	}
	bq, bk, shared := attnTiles(p.headDim)
	blocks := p.heads * ((p.tokens + bq - 1) / bq)
	l := attentionArgs(out, q, k, v, uint64(p.tokens), uint64(p.past), uint64(p.heads), uint64(p.kvHeads),
		uint64(p.headDim), p.scale, uint64(p.window), p.softcap, uint64(bq), uint64(bk))
	return d.launchGrid(l, blocks, fwdBlock, shared, d.streams[0])
}

// logProbsDev: for r < rows, out[r] (a float64 array) = log
// softmax(logits[r·vocab:(r+1)·vocab])[targets[r]], targets an int32
// array; one block per row.
func (d *Device) logProbsDev(out, logits, targets uint64, rows, vocab int) error {
	return d.logProbsGreedyDev(out, 0, logits, targets, rows, vocab)
}

// logProbsGreedyDev is logProbsDev that also sets best[r] (an int32
// array; none when best is 0) to the index of row r's first maximum, NaNs
// never winning (vocab-1 for a row of NaNs), as the greedy flags take it,
// so that the logits need not be copied back.
func (d *Device) logProbsGreedyDev(out, best, logits, targets uint64, rows, vocab int) error {
	if rows == 0 {
		return nil
	}
	if vocab <= 0 || vocab > math.MaxInt32 {
		return fmt.Errorf("cuda: log-probabilities over a vocabulary of %d", vocab)
	}
	return d.launchGrid(logProbsArgs(out, best, logits, targets, uint64(vocab)), rows, fwdBlock, 12*fwdBlock, d.streams[0])
}

// softcapDev: x[i] = cap·tanh(x[i]/cap) for n float32s (cap > 0), final
// logit soft-capping.
func (d *Device) softcapDev(x uint64, n int, cap float32) error {
	if !(cap > 0) {
		return fmt.Errorf("cuda: soft-cap %g", cap)
	}
	if n == 0 {
		return nil
	}
	return d.launch(softcapArgs(x, uint64(n), cap), n, d.streams[0])
}

// toBF16Dev: dst (a uint16 bf16 array) = src (float32) rounded to nearest
// even, n elements.
func (d *Device) toBF16Dev(dst, src uint64, n int) error {
	if n == 0 {
		return nil
	}
	return d.launch(convertArgs("gm_f32_to_bf16", dst, src, uint64(n)), n, d.streams[0])
}

// embedDev: dst[t·hidden:(t+1)·hidden] = float32(table row ids[t]) for t <
// n, table a bf16 [vocab, hidden] array and ids an int32 array, times
// scale when scale is not 1.
func (d *Device) embedDev(dst, table, ids uint64, n, hidden int, scale float32) error {
	if n == 0 || hidden == 0 {
		return nil
	}
	return d.launch(embedArgs(dst, table, ids, uint64(n), uint64(hidden), scale), n*hidden, d.streams[0])
}

// addBiasDev: x[r·dim+j] += b[j] for r < rows.
func (d *Device) addBiasDev(x, b uint64, rows, dim int) error {
	if rows == 0 || dim == 0 {
		return nil
	}
	return d.launch(addBiasArgs(x, b, uint64(rows), uint64(dim)), rows*dim, d.streams[0])
}

func i32s(x []int32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}
func f64s(x []float64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 8*len(x))
}

// hostCall runs launch on device copies of bufs: it allocates one scratch
// buffer per host slice, copies each in, launches with their addresses,
// and copies back those marked out.
func (d *Device) hostCall(what string, bufs []hostBuf, launch func(dev []uint64) error) error {
	leave, err := d.enter()
	if err != nil {
		return err
	}
	defer leave()
	sb := make([]scratchBuf, len(bufs))
	for i, b := range bufs {
		sb[i] = scratchBuf{len(b.b), what + " buffer"}
	}
	dev, free, err := d.scratch(sb...)
	defer free()
	if err != nil {
		return err
	}
	for i, b := range bufs {
		if err := d.copyIn(dev[i], b.b); err != nil {
			return err
		}
	}
	if err := launch(dev); err != nil {
		return err
	}
	for i, b := range bufs {
		if b.out {
			if err := d.copyOut(b.b, dev[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// hostBuf is one host slice of hostCall, as bytes; out copies it back.
type hostBuf struct {
	b   []byte
	out bool
}

// ActMul sets gate[i] = act(gate[i])·up[i] on the device, act a config's
// hidden_act as eval/model's activate reads it ("silu", "gelu_pytorch_tanh",
// otherwise exact GELU). The activations are float32 polynomials (see
// kernels.cu), within a few float32 ulps of the float64 formulas.
func (d *Device) ActMul(act string, gate, up []float32) error {
	if len(gate) != len(up) {
		return fmt.Errorf("cuda: ActMul of %d and %d elements", len(gate), len(up))
	}
	return d.hostCall("ActMul", []hostBuf{{f32s(gate), true}, {f32s(up), false}}, func(p []uint64) error {
		return d.actDev(actKind(act), p[0], p[1], len(gate))
	})
}

// AttentionParams is the shape of one Attention call.
type AttentionParams struct {
	Tokens, Past            int     // new tokens (queries), positions cached before them
	Heads, KVHeads, HeadDim int     // query head h reads kv head h/(Heads/KVHeads)
	Scale                   float32 // scores are q·k·Scale
	Window                  int     // 0 or a sliding window: position p sees keys p-Window+1..p
	Softcap                 float32 // 0 or the cap: scores become Softcap·tanh(score/Softcap)
}

// Attention computes causal softmax attention on the device: q and out are
// [Tokens, Heads·HeadDim], k and v the cache [Past+Tokens, KVHeads·HeadDim]
// with the new tokens last. Float32 throughout with an online softmax, so
// out agrees with a float64 reference to about 1e-6 relative.
func (d *Device) Attention(out, q, k, v []float32, p AttentionParams) error {
	ap := attnParams{p.Tokens, p.Past, p.Heads, p.KVHeads, p.HeadDim, p.Scale, p.Window, p.Softcap}
	if err := ap.check(); err != nil {
		return err
	}
	qn, kvn := p.Tokens*p.Heads*p.HeadDim, (p.Past+p.Tokens)*p.KVHeads*p.HeadDim
	if len(out) != qn || len(q) != qn || len(k) != kvn || len(v) != kvn {
		return fmt.Errorf("cuda: Attention: buffers of %d, %d, %d and %d elements, want %d, %d, %d and %d",
			len(out), len(q), len(k), len(v), qn, qn, kvn, kvn)
	}
	bufs := []hostBuf{{f32s(out), true}, {f32s(q), false}, {f32s(k), false}, {f32s(v), false}}
	return d.hostCall("Attention", bufs, func(b []uint64) error { return d.attentionDev(b[0], b[1], b[2], b[3], ap) })
}

// LogProbs sets out[r] = log softmax(logits row r)[targets[r]] for the
// len(out) rows of vocab logits, in float64 from float32 exponentials of
// the max-subtracted logits, as eval/model's logSoftmaxStats. With best
// not nil (len(out) long) it also sets best[r] to the index of the row's
// first maximum (NaNs never win).
func (d *Device) LogProbs(out []float64, best []int32, logits []float32, targets []int32, vocab int) error {
	if vocab <= 0 || len(targets) != len(out) || len(logits) != len(out)*vocab || best != nil && len(best) != len(out) {
		return fmt.Errorf("cuda: LogProbs: %d rows, %d targets, %d best, %d logits of a vocabulary of %d", len(out), len(targets), len(best), len(logits), vocab)
	}
	for r, t := range targets {
		if t < 0 || int(t) >= vocab {
			return fmt.Errorf("cuda: LogProbs: target %d of row %d is outside the vocabulary [0, %d)", t, r, vocab)
		}
	}
	bufs := []hostBuf{{f64s(out), true}, {f32s(logits), false}, {i32s(targets), false}, {i32s(best), true}}
	return d.hostCall("LogProbs", bufs, func(b []uint64) error {
		if best == nil {
			return d.logProbsDev(b[0], b[1], b[2], len(out), vocab)
		}
		return d.logProbsGreedyDev(b[0], b[3], b[1], b[2], len(out), vocab)
	})
}

// Softcap sets x[i] = cap·tanh(x[i]/cap), in float32 within a few ulps of
// eval/model's float64 softcap.
func (d *Device) Softcap(x []float32, cap float32) error {
	return d.hostCall("Softcap", []hostBuf{{f32s(x), true}}, func(b []uint64) error { return d.softcapDev(b[0], len(x), cap) })
}

// EmbedBF16 sets dst row t to row ids[t] of the bfloat16 table ([vocab,
// hidden]) as float32, times scale unless it is 1.
func (d *Device) EmbedBF16(dst []float32, table []uint16, ids []int32, hidden int, scale float32) error {
	if hidden <= 0 || len(table)%hidden != 0 || len(dst) != len(ids)*hidden {
		return fmt.Errorf("cuda: EmbedBF16: %d outputs, %d ids, a table of %d in rows of %d", len(dst), len(ids), len(table), hidden)
	}
	for t, id := range ids {
		if id < 0 || int(id) >= len(table)/hidden {
			return fmt.Errorf("cuda: EmbedBF16: id %d at %d is outside the table's %d rows", id, t, len(table)/hidden)
		}
	}
	bufs := []hostBuf{{f32s(dst), true}, {u16s(table), false}, {i32s(ids), false}}
	return d.hostCall("EmbedBF16", bufs, func(b []uint64) error { return d.embedDev(b[0], b[1], b[2], len(ids), hidden, scale) })
}

// AddBias adds b to every row (len(b) wide) of x.
func (d *Device) AddBias(x, b []float32) error {
	if len(b) == 0 || len(x)%len(b) != 0 {
		return fmt.Errorf("cuda: AddBias: %d elements in rows of %d", len(x), len(b))
	}
	return d.hostCall("AddBias", []hostBuf{{f32s(x), true}, {f32s(b), false}}, func(p []uint64) error {
		return d.addBiasDev(p[0], p[1], len(x)/len(b), len(b))
	})
}
