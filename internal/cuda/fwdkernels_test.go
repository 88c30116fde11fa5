//go:build cuda && linux && amd64

package cuda

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// The forward-pass kernels are not bit-exact with eval/model (their
// exponentials and sums are ordered differently); these tests compare them
// with float64 references of eval/model's formulas within tolerances that
// float32 arithmetic can meet, and check the exact ones (embedding, bias,
// bf16 rounding) bit for bit.

// act64 is eval/model's activate for one element, in float64.
func act64(kind int32, x float64) float64 {
	switch kind {
	case actSiLU:
		return x / (1 + math.Exp(-x))
	case actGELUTanh:
		return 0.5 * x * (1 + math.Tanh(0.7978845608028654*(x+0.044715*x*x*x)))
	}
	return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
}

// TestActMulMatchesReference checks gm_act_mul against float64 activations
// rounded as eval/model rounds them (float32(act(g))·u): within 2e-6
// relative, and 1e-12 absolute where the exact value is below float32's
// reach or cancels (GELU of large negative x, where eval/model's own
// 1+tanh is 0); ±∞ and NaN give what the float64 formulas give.
func TestActMulMatchesReference(t *testing.T) {
	d := open(t, 4096)
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	r := rand.New(rand.NewPCG(11, 12))
	for _, act := range []string{"silu", "gelu_pytorch_tanh", "gelu"} {
		kind, worst := actKind(act), 0.0
		for _, n := range []int{0, 1, 7, 1000, 4099} {
			g, u := make([]float32, n), make([]float32, n)
			for i := range g {
				switch i % 5 {
				case 0:
					g[i] = float32(r.NormFloat64())
				case 1:
					g[i] = float32(r.NormFloat64() * 8)
				case 2:
					g[i] = float32(r.NormFloat64() * 1e-3)
				case 3:
					g[i] = float32(r.Float64()*240 - 120)
				default:
					g[i] = []float32{0, -0.6249, 0.625, 0.6251, -1, 3, -88, 89, 1e-30, -1e-30, inf, -inf, nan}[r.IntN(13)]
				}
				u[i] = float32(1 + r.NormFloat64())
			}
			want := make([]float64, n)
			for i := range g {
				want[i] = float64(float32(act64(kind, float64(g[i])))) * float64(u[i])
			}
			x := slices.Clone(g)
			if err := d.ActMul(act, x, u); err != nil {
				t.Fatal(err)
			}
			for i := range x {
				if math.IsNaN(want[i]) || math.IsInf(want[i], 0) { // ±∞ and NaN inputs
					if float64(x[i]) != want[i] && !(math.IsNaN(want[i]) && x[i] != x[i]) {
						t.Fatalf("%s: act(%g)·%g = %g, want %g", act, g[i], u[i], x[i], want[i])
					}
					continue
				}
				diff := math.Abs(float64(x[i]) - want[i])
				if !(diff <= 2e-6*math.Abs(want[i])+1e-12) {
					t.Fatalf("%s n %d: act(%g)·%g = %g, want %g (error %.3g relative)", act, n, g[i], u[i], x[i], want[i], diff/math.Abs(want[i]))
				}
				if math.Abs(want[i]) >= 1e-6 { // where the relative bound binds
					worst = max(worst, diff/math.Abs(want[i]))
				}
			}
		}
		t.Logf("%s: worst relative error %.3g (|want| ≥ 1e-6)", act, worst)
	}
	if err := d.ActMul("silu", make([]float32, 3), make([]float32, 2)); err == nil {
		t.Error("ActMul of 3 and 2 elements succeeded")
	}
	if actKind("gelu_new") != actGELUTanh || actKind("swish") != actSiLU || actKind("gelu") != actGELUErf {
		t.Error("actKind does not map hidden_act as eval/model's activate")
	}
}

// attention64 is eval/model's attention of one sequence in float64: for
// each head and query, scaled (and soft-capped) scores over the visible
// keys, softmax, and the weighted sum of the values. It also returns, per
// output element, Σ_j p_j·|v_j|, the scale of its rounding error.
func attention64(q, k, v []float32, p AttentionParams) (out, mag []float64) {
	hd, qDim, kvDim := p.HeadDim, p.Heads*p.HeadDim, p.KVHeads*p.HeadDim
	out, mag = make([]float64, p.Tokens*qDim), make([]float64, p.Tokens*qDim)
	for h := range p.Heads {
		kh := h / (p.Heads / p.KVHeads)
		for i := range p.Tokens {
			pos := p.Past + i
			lo := 0
			if p.Window > 0 {
				lo = max(0, pos-p.Window+1)
			}
			s := make([]float64, pos+1-lo)
			best := math.Inf(-1)
			for j := range s {
				dot := 0.0
				for c := range hd {
					dot += float64(q[i*qDim+h*hd+c]) * float64(k[(lo+j)*kvDim+kh*hd+c])
				}
				s[j] = dot * float64(p.Scale)
				if p.Softcap != 0 {
					s[j] = float64(p.Softcap) * math.Tanh(s[j]/float64(p.Softcap))
				}
				best = max(best, s[j])
			}
			sum := 0.0
			for j := range s {
				s[j] = math.Exp(s[j] - best)
				sum += s[j]
			}
			for c := range hd {
				acc, m := 0.0, 0.0
				for j := range s {
					w := float64(v[(lo+j)*kvDim+kh*hd+c])
					acc += s[j] / sum * w
					m += s[j] / sum * math.Abs(w)
				}
				out[i*qDim+h*hd+c], mag[i*qDim+h*hd+c] = acc, m
			}
		}
	}
	return out, mag
}

// TestAttentionMatchesReference checks gm_attention against attention64
// on several tiles of queries and keys, odd lengths, GQA, a cache (past >
// 0), sliding windows, soft-capping, head sizes from 8 to 256 and peaked
// scores (queries ×10, so that the online softmax rescales): each output
// within 1e-5·Σ p_j|v_j| of the float64 value, 2e-5 for the ×10 queries,
// whose scores (about ±30) carry float32 rounding of a few 1e-6 from the
// dot products alone (the CPU's float32 scores carry the same).
func TestAttentionMatchesReference(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(13, 14))
	for _, c := range []struct {
		p     AttentionParams
		qGain float64
	}{
		{AttentionParams{Tokens: 1, Heads: 1, KVHeads: 1, HeadDim: 8}, 1},
		{AttentionParams{Tokens: 37, Heads: 4, KVHeads: 2, HeadDim: 16}, 1},
		{AttentionParams{Tokens: 70, Past: 5, Heads: 2, KVHeads: 1, HeadDim: 64}, 1},
		{AttentionParams{Tokens: 70, Past: 5, Heads: 2, KVHeads: 1, HeadDim: 64}, 10},
		{AttentionParams{Tokens: 45, Heads: 2, KVHeads: 2, HeadDim: 128, Window: 16}, 3},
		{AttentionParams{Tokens: 33, Past: 10, Heads: 3, KVHeads: 1, HeadDim: 32, Window: 7, Softcap: 5}, 10},
		{AttentionParams{Tokens: 1, Past: 40, Heads: 2, KVHeads: 1, HeadDim: 96, Window: 9}, 1},
		{AttentionParams{Tokens: 20, Heads: 1, KVHeads: 1, HeadDim: 256, Softcap: 50}, 1},
		{AttentionParams{Tokens: 19, Past: 3, Heads: 2, KVHeads: 2, HeadDim: 80}, 2},
	} {
		p := c.p
		p.Scale = float32(1 / math.Sqrt(float64(p.HeadDim)))
		qn, kvn := p.Tokens*p.Heads*p.HeadDim, (p.Past+p.Tokens)*p.KVHeads*p.HeadDim
		q, k, v := make([]float32, qn), make([]float32, kvn), make([]float32, kvn)
		for i := range q {
			q[i] = float32(r.NormFloat64() * c.qGain)
		}
		for i := range k {
			k[i], v[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		out := make([]float32, qn)
		if err := d.Attention(out, q, k, v, p); err != nil {
			t.Fatal(err)
		}
		want, mag := attention64(q, k, v, p)
		worst, tol := 0.0, 1e-5
		if c.qGain == 10 {
			tol = 2e-5
		}
		for i := range out {
			e := math.Abs(float64(out[i])-want[i]) / mag[i]
			if !(e <= tol) {
				t.Fatalf("%+v ×%g: element %d (token %d): %g, want %g (error %.3g of Σp|v|)", p, c.qGain, i, i/(p.Heads*p.HeadDim), out[i], want[i], e)
			}
			worst = max(worst, e)
		}
		t.Logf("%+v ×%g: worst error %.3g of Σp|v|", p, c.qGain, worst)
	}
	bad := AttentionParams{Tokens: 2, Heads: 3, KVHeads: 2, HeadDim: 4}
	if err := d.Attention(make([]float32, 24), make([]float32, 24), make([]float32, 16), make([]float32, 16), bad); err == nil {
		t.Error("Attention with 3 heads over 2 kv heads succeeded")
	}
	if err := d.Attention(make([]float32, 8), make([]float32, 8), make([]float32, 8), make([]float32, 7), AttentionParams{Tokens: 2, Heads: 1, KVHeads: 1, HeadDim: 4}); err == nil {
		t.Error("Attention with a short v succeeded")
	}
}

// firstMax is the greedy flags' argmax: the index of the first maximum,
// NaNs never winning (the last index for a row of NaNs).
func firstMax(row []float32) int32 {
	best := 0
	for i, v := range row {
		if v > row[best] || math.IsNaN(float64(row[best])) {
			best = i
		}
	}
	return int32(best)
}

// TestLogProbsMatchesReference checks gm_log_probs against float64
// log-softmax (max-subtracted, as logSoftmaxStats): within 1e-6·max(1,
// |want|), on odd vocabularies and rows with huge, tiny, spread and equal
// logits, targets at the maximum, the minimum and anywhere; and its
// argmax against firstMax exactly, on ties and NaNs too.
func TestLogProbsMatchesReference(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(15, 16))
	for _, vocab := range []int{1, 7, 1000, 32003} {
		rows := 9
		logits, targets := make([]float32, rows*vocab), make([]int32, rows)
		for row := range rows {
			x := logits[row*vocab : (row+1)*vocab]
			for i := range x {
				switch row {
				case 0, 1:
					x[i] = float32(r.NormFloat64() * 3)
				case 2: // huge: e^x overflows without the max subtracted
					x[i] = float32(3e4 + r.NormFloat64()*10)
				case 3: // tiny: e^x underflows to 0 without it
					x[i] = float32(-3e4 + r.NormFloat64()*10)
				case 4: // spread: most terms underflow
					x[i] = float32(r.Float64()*400 - 200)
				case 5:
					x[i] = 2.5
				case 6:
					x[i] = float32(r.NormFloat64() * 1e-3)
				default: // ties of the maximum, which greedy takes the first of
					x[i] = float32(r.IntN(5))
				}
			}
			if row == 8 { // NaNs, and none at the maximum, which wins
				x[0] = float32(math.NaN())
				x[vocab/2] = float32(math.NaN())
			}
			switch row {
			case 0:
				targets[row] = int32(slices.Index(x, slices.Max(x)))
			case 4:
				targets[row] = int32(slices.Index(x, slices.Min(x)))
			default:
				targets[row] = int32(r.IntN(vocab))
			}
		}
		got, best := make([]float64, rows), make([]int32, rows)
		if err := d.LogProbs(got, best, logits, targets, vocab); err != nil {
			t.Fatal(err)
		}
		plain := make([]float64, rows)
		if err := d.LogProbs(plain, nil, logits, targets, vocab); err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		defer func() { t.Logf("vocab %d: worst error %.3g", vocab, worst) }()
		for row := range rows {
			x := logits[row*vocab : (row+1)*vocab]
			if w := firstMax(x); best[row] != w {
				t.Errorf("vocab %d row %d: argmax %d, want %d", vocab, row, best[row], w)
			}
			if math.Float64bits(plain[row]) != math.Float64bits(got[row]) {
				t.Errorf("vocab %d row %d: %g without argmax, %g with", vocab, row, plain[row], got[row])
			}
			if row == 8 {
				if vocab > 2 && !math.IsNaN(got[row]) {
					t.Errorf("vocab %d: row with NaNs: %g", vocab, got[row])
				}
				continue
			}
			m := float64(slices.Max(x))
			sum := 0.0
			for _, v := range x {
				sum += math.Exp(float64(v) - m)
			}
			want := float64(x[targets[row]]) - (m + math.Log(sum))
			diff := math.Abs(got[row] - want)
			if !(diff <= 1e-6*max(1, math.Abs(want))) {
				t.Errorf("vocab %d row %d: %.10g, want %.10g (error %.3g)", vocab, row, got[row], want, diff)
			}
			worst = max(worst, diff/max(1, math.Abs(want)))
		}
	}
	if err := d.LogProbs(make([]float64, 1), nil, make([]float32, 3), []int32{3}, 3); err == nil {
		t.Error("LogProbs with a target outside the vocabulary succeeded")
	}
}

// TestEmbedBF16MatchesCPU checks gm_embed_bf16 bit for bit against
// eval/model's embedding: the bf16 row as float32, times the scale.
func TestEmbedBF16MatchesCPU(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(17, 18))
	const vocab = 50
	for _, hidden := range []int{1, 7, 256, 4099} {
		table := make([]uint16, vocab*hidden)
		for i := range table {
			table[i] = tensor.F32ToBF16(float32(r.NormFloat64()))
		}
		ids := []int32{0, vocab - 1, 3, 3, int32(r.IntN(vocab)), 17, 42}
		if hidden == 4099 { // beyond one grid: threads step across rows
			for range 600 {
				ids = append(ids, int32(r.IntN(vocab)))
			}
		}
		for _, scale := range []float32{1, float32(math.Sqrt(float64(hidden))), 0.5} {
			got := make([]float32, len(ids)*hidden)
			if err := d.EmbedBF16(got, table, ids, hidden, scale); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, len(got))
			for i, id := range ids {
				for j := range hidden {
					want[i*hidden+j] = tensor.BF16ToF32(table[int(id)*hidden+j])
				}
			}
			if scale != 1 {
				tensor.Scale(want, scale)
			}
			sameBits(t, "EmbedBF16", got, want)
		}
	}
	if err := d.EmbedBF16(make([]float32, 2), make([]uint16, 4), []int32{2}, 2, 1); err == nil {
		t.Error("EmbedBF16 of row 2 of a 2-row table succeeded")
	}
}

// TestAddBiasMatchesCPU checks gm_add_bias bit for bit on odd shapes.
func TestAddBiasMatchesCPU(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(19, 20))
	// 600×4099 is beyond one grid (8192 blocks of 256), so that threads
	// step their column across rows.
	for _, c := range []struct{ rows, dim int }{{1, 1}, {3, 7}, {17, 4097}, {600, 4099}} {
		x, b := values(r, tensor.F32, c.rows*c.dim), values(r, tensor.F32, c.dim)
		want := slices.Clone(x)
		for i := range want {
			want[i] += b[i%c.dim]
		}
		if err := d.AddBias(x, b); err != nil {
			t.Fatal(err)
		}
		sameBits(t, "AddBias", x, want)
	}
	if err := d.AddBias(make([]float32, 5), make([]float32, 2)); err == nil {
		t.Error("AddBias of 5 elements in rows of 2 succeeded")
	}
}

// TestToBF16DevMatchesCPU checks the device launcher toBF16Dev against
// tensor.F32ToBF16 bit for bit, specials included.
func TestToBF16DevMatchesCPU(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 31, 4097} {
		src := values(r, tensor.F32, n)
		src[0] = float32(math.NaN())
		got := make([]uint16, n)
		err := d.hostCall("toBF16", []hostBuf{{u16s(got), true}, {f32s(src), false}}, func(p []uint64) error {
			return d.toBF16Dev(p[0], p[1], n)
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range src {
			if w := tensor.F32ToBF16(v); got[i] != w {
				t.Fatalf("n %d: bf16 of %g (%#08x): %#04x, want %#04x", n, v, math.Float32bits(v), got[i], w)
			}
		}
	}
}

// TestSoftcapMatchesReference checks gm_softcap against eval/model's
// softcap, float32(cap·tanh(x/cap)) in float64: within 2e-6 relative.
func TestSoftcapMatchesReference(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(23, 24))
	for _, cp := range []float32{30, 50, 0.5} {
		x := make([]float32, 3001)
		for i := range x {
			x[i] = float32(r.NormFloat64() * float64(cp) * []float64{1e-6, 0.1, 1, 4}[i%4])
		}
		x[0], x[1] = 0, float32(math.Inf(-1))
		got := slices.Clone(x)
		if err := d.Softcap(got, cp); err != nil {
			t.Fatal(err)
		}
		for i, v := range x {
			want := float32(float64(cp) * math.Tanh(float64(v)/float64(cp)))
			if diff := math.Abs(float64(got[i] - want)); !(diff <= 2e-6*math.Abs(float64(want))) {
				t.Fatalf("cap %g: softcap(%g) = %g, want %g", cp, v, got[i], want)
			}
		}
	}
	if err := d.Softcap(make([]float32, 1), 0); err == nil {
		t.Error("Softcap with cap 0 succeeded")
	}
}

// devBufs allocates device buffers of the given float32 counts for a
// benchmark, filled with value, on an entered device; the caller defers
// free.
func devBufs(b *testing.B, d *Device, value float32, counts ...int) (p []uint64, free func()) {
	b.Helper()
	sb := make([]scratchBuf, len(counts))
	for i, n := range counts {
		sb[i] = scratchBuf{4 * n, "a benchmark buffer"}
	}
	p, free, err := d.scratch(sb...)
	if err != nil {
		free()
		b.Fatal(err)
	}
	for i, n := range counts {
		if err := d.drv.check("cuMemsetD32Async", d.drv.cuMemsetD32Async(p[i], math.Float32bits(value), uint64(n), d.streams[0])); err != nil {
			free()
			b.Fatal(err)
		}
	}
	return p, free
}

// benchLoop times b.N calls of run on stream 0, synchronizing after the
// last (and after one warm-up call).
func benchLoop(b *testing.B, d *Device, run func() error) {
	b.Helper()
	if err := run(); err != nil {
		b.Fatal(err)
	}
	d.drv.cuStreamSynchronize(d.streams[0])
	b.ResetTimer()
	for range b.N {
		if err := run(); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.drv.check("cuStreamSynchronize", d.drv.cuStreamSynchronize(d.streams[0])); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAttention measures gm_attention on device buffers for one
// 2048-token prompt of a layer shaped as TinyLlama-1.1B (32 heads over 4,
// 64 wide), Mistral-7B (32 over 8, 128 wide) and Gemma-2-2B (8 over 4,
// 256 wide, soft-capped): tokens/s per layer and the causal FLOP rate.
func BenchmarkAttention(b *testing.B) {
	d := open(b, 0)
	for _, c := range []struct {
		name string
		p    attnParams
	}{
		{"1B", attnParams{tokens: 2048, heads: 32, kvHeads: 4, headDim: 64}},
		{"7B", attnParams{tokens: 2048, heads: 32, kvHeads: 8, headDim: 128}},
		{"gemma2-2B", attnParams{tokens: 2048, heads: 8, kvHeads: 4, headDim: 256, softcap: 50}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := c.p
			p.scale = float32(1 / math.Sqrt(float64(p.headDim)))
			leave, err := d.enter()
			if err != nil {
				b.Fatal(err)
			}
			defer leave()
			qn, kvn := p.tokens*p.heads*p.headDim, p.tokens*p.kvHeads*p.headDim
			buf, free := devBufs(b, d, 0.01, qn, qn, kvn, kvn)
			defer free()
			benchLoop(b, d, func() error { return d.attentionDev(buf[0], buf[1], buf[2], buf[3], p) })
			s := b.Elapsed().Seconds()
			flops := 4 * float64(p.heads*p.headDim) * float64(p.tokens) * float64(p.tokens+1) / 2
			b.ReportMetric(float64(p.tokens)*float64(b.N)/s, "tokens/s")
			b.ReportMetric(flops*float64(b.N)/s/1e12, "TFLOP/s")
		})
	}
}

// BenchmarkLogProbs measures gm_log_probs with the argmax over 512 rows
// of a 32000- and a 256000-token vocabulary.
func BenchmarkLogProbs(b *testing.B) {
	d := open(b, 0)
	for _, vocab := range []int{32000, 256000} {
		b.Run(strconv.Itoa(vocab), func(b *testing.B) {
			const rows = 512
			leave, err := d.enter()
			if err != nil {
				b.Fatal(err)
			}
			defer leave()
			buf, free := devBufs(b, d, 0, 2*rows, rows, rows, rows*vocab) // out (float64), best, targets, logits
			defer free()
			b.SetBytes(4 * rows * int64(vocab))
			benchLoop(b, d, func() error { return d.logProbsGreedyDev(buf[0], buf[1], buf[3], buf[2], rows, vocab) })
		})
	}
}

// BenchmarkActMul measures gm_act_mul over a 2048-token prompt's MLP of
// a 7B model (14336 wide).
func BenchmarkActMul(b *testing.B) {
	d := open(b, 0)
	for _, act := range []string{"silu", "gelu_pytorch_tanh", "gelu"} {
		b.Run(act, func(b *testing.B) {
			const n = 2048 * 14336
			leave, err := d.enter()
			if err != nil {
				b.Fatal(err)
			}
			defer leave()
			buf, free := devBufs(b, d, 0.5, n, n)
			defer free()
			b.SetBytes(3 * 4 * n) // two read, one written
			benchLoop(b, d, func() error { return d.actDev(actKind(act), buf[0], buf[1], n) })
		})
	}
}
