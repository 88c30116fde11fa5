package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/gomerge/gomerge/tensor"
)

// ErrToken is wrapped by errors about input ids: out of the vocabulary,
// or an empty sequence.
var ErrToken = errors.New("bad token ids")

// cache holds one sequence's keys and values, per layer [pos, kvHeads*headDim].
type cache struct {
	pos  int
	k, v [][]float32
}

func (m *Model) newCache() *cache {
	return &cache{k: make([][]float32, m.cfg.layers), v: make([][]float32, m.cfg.layers)}
}

// extend lengthens layer li of c by rows rows of kvDim floats each, keys
// and values, and returns the new rows (contents undefined) for the
// caller to fill. Room is made as append would, but from kvPool and with
// a quarter to spare, so that a few more tokens fit without a copy.
func (c *cache) extend(li, rows, kvDim int) (k, v []float32) {
	c.k[li], k = extendRows(c.k[li], rows*kvDim)
	c.v[li], v = extendRows(c.v[li], rows*kvDim)
	return k, v
}

func extendRows(s []float32, n int) (all, tail []float32) {
	l := len(s)
	if cap(s)-l < n {
		need := l + n
		ns := getKV(need + need/4)[:l]
		copy(ns, s)
		s = ns
	}
	s = s[:l+n]
	return s, s[l:]
}

// release hands c's buffers to kvPool for later caches; c is empty after.
// Only for a cache that no other cache shares (see fork): one made by
// newCache for a call that is done with it.
func (c *cache) release() {
	for li := range c.k {
		for _, b := range []*[]float32{&c.k[li], &c.v[li]} {
			if cap(*b) > 0 {
				s := (*b)[:0]
				kvPool.Put(&s)
			}
			*b = nil
		}
	}
	c.pos = 0
}

// kvPool recycles the key and value buffers of caches (*[]float32, length
// 0): a 512-token pass through the 100M of bench/llamacpp fills 25 MB of
// them, and on the virtual machines this runs on the first touch of each
// page of fresh memory costs 1.5-2 µs.
var kvPool sync.Pool

// getKV returns an empty slice with room for n floats, from kvPool when
// the one it holds is large enough.
func getKV(n int) []float32 {
	if p, ok := kvPool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]float32, 0, n)
}

// seg is one sequence's new tokens and its cache within a batch.
type seg struct {
	ids []int
	c   *cache
	off int // first row in the batch
}

// probe observes a forward pass. hidden, if set, receives the residual
// stream entering each layer (the first is the embeddings) and then the
// last layer's output before the final norm: layers+1 calls, each [total
// tokens, hidden], to be copied if kept. route, if set, receives each
// sparse layer's routing of every token and its router probabilities
// [tokens, experts].
type probe struct {
	hidden func([]float32)
	route  func(layer int, routes []route, probs []float32)
}

// forward runs new tokens of several sequences through the model at once,
// appending their keys and values to each cache, and returns the final
// normalized hidden states [total tokens, hidden]; p, if not nil, watches.
func (m *Model) forward(segs []seg, p *probe) []float32 {
	c := m.cfg
	n := 0
	for i := range segs {
		segs[i].off = n
		n += len(segs[i].ids)
	}
	H, qDim, kvDim := c.hidden, c.heads*c.headDim, c.kvHeads*c.headDim
	x := getHidden(n * H)
	buf := make([]float32, max(c.hidden, c.headDim))
	scale := float32(math.Sqrt(float64(H)))
	for _, s := range segs {
		for i, id := range s.ids {
			row := m.embed.rowsInto(id, id+1, buf[:H])
			dst := x[(s.off+i)*H : (s.off+i+1)*H]
			copy(dst, row)
			if c.embScale {
				tensor.Scale(dst, scale)
			}
		}
	}
	if p != nil && p.hidden != nil {
		p.hidden(x)
	}
	pos := make([]int, n)
	for _, s := range segs {
		for i := range s.ids {
			pos[s.off+i] = s.c.pos + i
		}
	}
	sc, _ := fwdPool.Get().(*fwdScratch)
	if sc == nil {
		sc = new(fwdScratch)
	}
	defer fwdPool.Put(sc)
	sc.h, sc.q, sc.a, sc.o = grow(sc.h, n*H), grow(sc.q, n*qDim), grow(sc.a, n*qDim), grow(sc.o, n*H)
	if len(segs) > 1 {
		sc.k, sc.v = grow(sc.k, n*kvDim), grow(sc.v, n*kvDim)
	}
	half := c.headDim / 2
	sc.angles = grow(sc.angles, 2*n*half)
	h, q, a, o, angles := sc.h, sc.q, sc.a, sc.o, sc.angles
	var anglesOf *rope // the rope whose angles are in angles
	g, u := sc.g, sc.u
	defer func() { sc.g, sc.u = g, u }()
	for li := range m.layers {
		y := &m.layers[li]
		m.rows(n, func(t int) { rmsNorm(h[t*H:(t+1)*H], x[t*H:(t+1)*H], y.inNorm, c.eps) })
		// One sequence's new keys and values go straight into its cache;
		// several sequences' are copied there after the rotation.
		k, v := sc.k, sc.v
		if len(segs) == 1 {
			k, v = segs[0].c.extend(li, n, kvDim)
		}
		xb := m.pairsFor(h, n, y.q, y.k, y.v)
		matmulWith(m.threads, q, h, xb, n, y.q, y.qb)
		matmulWith(m.threads, k, h, xb, n, y.k, y.kb)
		matmulWith(m.threads, v, h, xb, n, y.v, y.vb)
		putPairs(xb)
		// Row by row in one step: the q/k norms, the rope angles (once
		// for the layers that share a rope) and the rotation.
		r := c.ropes[li]
		fresh := r != anglesOf
		anglesOf = r
		m.rows(n, func(t int) {
			qt, kt := q[t*qDim:(t+1)*qDim], k[t*kvDim:(t+1)*kvDim]
			if c.qkNorm {
				rmsNorm(qt, qt, y.qNorm, c.eps)
				rmsNorm(kt, kt, y.kNorm, c.eps)
			}
			cos, sin := angles[2*t*half:(2*t+1)*half], angles[(2*t+1)*half:(2*t+2)*half]
			if fresh {
				ropeAngles(cos, sin, r, pos[t])
			}
			rotate(qt, c.heads, c.headDim, cos, sin)
			rotate(kt, c.kvHeads, c.headDim, cos, sin)
		})
		if len(segs) > 1 {
			parallel(m.threads, len(segs), func(i int) {
				s := segs[i]
				kc, vc := s.c.extend(li, len(s.ids), kvDim)
				copy(kc, k[s.off*kvDim:(s.off+len(s.ids))*kvDim])
				copy(vc, v[s.off*kvDim:(s.off+len(s.ids))*kvDim])
			})
		}
		m.attention(li, segs, q, a)
		matmul(m.threads, o, a, n, y.o, y.ob)
		ffNorm := y.postAttnNorm
		if c.sandwich {
			ffNorm = y.preFFNorm
		}
		// Row by row in one step: the residual add and the MLP's norm.
		m.rows(n, func(t int) {
			ot, xt := o[t*H:(t+1)*H], x[t*H:(t+1)*H]
			if c.sandwich {
				rmsNorm(ot, ot, y.postAttnNorm, c.eps)
			}
			tensor.Add(xt, ot)
			rmsNorm(h[t*H:(t+1)*H], xt, ffNorm, c.eps)
		})
		if y.moe != nil {
			m.moe(li, y.moe, h, o, n, p)
		} else {
			g, u = grow(g, n*c.inter), grow(u, n*c.inter)
			xb := m.pairsFor(h, n, y.gate, y.up)
			matmulWith(m.threads, g, h, xb, n, y.gate, y.gateB)
			matmulWith(m.threads, u, h, xb, n, y.up, y.upB)
			putPairs(xb)
			act := activate
			if y.gate.bf16dot {
				act = activateFast
			}
			m.rows(n, func(t int) {
				act(c.act, g[t*c.inter:(t+1)*c.inter], u[t*c.inter:(t+1)*c.inter])
			})
			matmul(m.threads, o, g, n, y.down, y.downB)
		}
		m.rows(n, func(t int) {
			ot := o[t*H : (t+1)*H]
			if c.sandwich {
				rmsNorm(ot, ot, y.postFFNorm, c.eps)
			}
			tensor.Add(x[t*H:(t+1)*H], ot)
		})
		if p != nil && p.hidden != nil {
			p.hidden(x)
		}
	}
	for _, s := range segs {
		s.c.pos += len(s.ids)
	}
	m.rows(n, func(t int) { rmsNorm(x[t*H:(t+1)*H], x[t*H:(t+1)*H], m.norm, c.eps) })
	return x
}

// fwdScratch holds a forward pass's buffers other than its result,
// reused by later passes (every buffer is written before it is read): on
// the virtual machines this runs on, the first touch of each page of
// fresh memory costs 1.5-2 µs, and two threads faulting at once contend
// for the kernel's locks. A pass of 512 tokens through the 100M touched
// about 40 MB of fresh scratch.
type fwdScratch struct{ h, q, k, v, a, o, g, u, angles []float32 }

var fwdPool sync.Pool // *fwdScratch

// hiddenPool recycles the results of forward passes (*[]float32) that
// their callers are done with (Session.Feed): a 512-token pass through a
// 1B model returns 4 MiB.
var hiddenPool sync.Pool

func getHidden(n int) []float32 {
	if p, ok := hiddenPool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

// putHidden hands a forward pass's result that nothing reads any more to
// later passes.
func putHidden(x []float32) { hiddenPool.Put(&x) }

// rows runs fn for each of n token rows, in parallel when there are many.
func (m *Model) rows(n int, fn func(t int)) {
	threads := m.threads
	if n < 8 {
		threads = 1
	}
	const chunk = 4
	parallel(threads, (n+chunk-1)/chunk, func(b int) {
		for t := b * chunk; t < min(n, (b+1)*chunk); t++ {
			fn(t)
		}
	})
}

// attention computes softmax(q·k * scale) v for every new token of every
// sequence, each query seeing its cache up to its own position (and no
// further back than the sliding window on sliding layers); a is
// [tokens, heads*headDim]. Queries go in pairs so that dot2x4 scores two
// queries against four keys at a time, and in tiles of tileQueries for
// the weighted sum of value rows, so that each value row is read once per
// tile rather than once per query.
func (m *Model) attention(li int, segs []seg, q, a []float32) {
	c := m.cfg
	hd, qDim, kvDim := c.headDim, c.heads*c.headDim, c.kvHeads*c.headDim
	group := c.heads / c.kvHeads
	// Queries are scored in pairs (dot2x4) and weighed in tiles (wsumTile);
	// block is a whole number of both, so that where the pairs fall, and
	// with them the rounding of every score, does not depend on the tile.
	tile := tileQueries(hd)
	block := max(tile, 2)
	type task struct{ s, h int }
	var tasks []task
	work := 0
	for si, s := range segs {
		for h := range c.heads {
			tasks = append(tasks, task{si, h})
		}
		work += len(s.ids) * len(s.c.k[li]) / kvDim * qDim
	}
	threads := m.threads
	if work < 1<<15 {
		threads = 1 // not worth waking a goroutine
	}
	parallel(threads, len(tasks), func(ti int) {
		s, h := segs[tasks[ti].s], tasks[ti].h
		kc, vc := s.c.k[li], s.c.v[li]
		total := len(kc) / kvDim
		start := total - len(s.ids) // position of the first new token
		kh := h / group
		kh0 := kc[kh*hd:]
		vh0 := vc[kh*hd:]
		buf := getAttn(block * (total + hd))
		defer attnPool.Put(buf)
		p := (*buf)[:block*total] // query u's scores at u*total
		acc := (*buf)[block*total:]
		lo := func(me int) int { // first key position query me sees
			if c.sliding[li] {
				return max(0, me-c.window+1)
			}
			return 0
		}
		for i := 0; i < len(s.ids); i += block {
			tq := min(block, len(s.ids)-i)
			for u := 0; u < tq; u += 2 {
				m.scores2(p[u*total:], total, q, s.off+i+u, min(2, tq-u), h, lo(start+i+u), start+i+u, kh0, kvDim)
			}
			for u := range tq {
				me := start + i + u
				m.softmaxW(p[u*total+lo(me) : u*total+me+1])
			}
			first, lastLo := start+i, lo(start+i+tq-1)
			if tile == 1 || lo(first) != lastLo {
				for u := range tq {
					me := start + i + u
					l := lo(me)
					wsum(acc[u*hd:(u+1)*hd], p[u*total+l:u*total+me+1], vc[l*kvDim+kh*hd:], kvDim)
				}
			} else {
				// The keys every query of the tile sees, together; then
				// each later query's own last few, continuing its sum in
				// the same order as wsum.
				clear(acc)
				n0 := first - lastLo + 1
				wsumTile(acc, hd, p[lastLo:], total, vh0[lastLo*kvDim:], kvDim, n0, tq, hd)
				for u := 1; u < tq; u++ {
					wsumTile(acc[u*hd:], hd, p[u*total+first+1:], total, vh0[(first+1)*kvDim:], kvDim, u, 1, hd)
				}
			}
			for u := range tq {
				t := s.off + i + u
				copy(a[t*qDim+h*hd:t*qDim+(h+1)*hd], acc[u*hd:(u+1)*hd])
			}
		}
	})
}

// attnPool recycles attention's per-task scratch (*[]float32).
var attnPool sync.Pool

func getAttn(n int) *[]float32 {
	if p, ok := attnPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]float32, n)
	return &b
}

// scores2 sets p[j] and p[stride+j], for key positions lo ≤ j ≤
// first+pair-1, to the dot products of the pair (1 or 2) of queries of
// head h at tokens t0 and t0+pair-1 with the keys of one kv head, whose
// rows start kvDim floats apart in kh0. With one query both rows get its
// scores.
func (m *Model) scores2(p []float32, stride int, q []float32, t0, pair, h, lo, first int, kh0 []float32, kvDim int) {
	hd, qDim := m.cfg.headDim, m.cfg.heads*m.cfg.headDim
	t1 := t0 + pair - 1
	q0 := q[t0*qDim+h*hd : t0*qDim+(h+1)*hd]
	q1 := q[t1*qDim+h*hd : t1*qDim+(h+1)*hd]
	last := first + pair - 1
	blocks := (last + 1 - lo) / 4
	dot2xN(p[lo:], p[stride+lo:], q0, q1, kh0[lo*kvDim:], kvDim, hd, blocks)
	for j := lo + 4*blocks; j <= last; j++ {
		k := kh0[j*kvDim : j*kvDim+hd]
		p[j], p[stride+j] = dotGeneric(q0, k), dotGeneric(q1, k)
	}
}

// softmaxW turns raw scores into attention weights in place: scaled,
// soft-capped, softmax with float32 exponentials summed as in
// logSoftmaxStats.
func (m *Model) softmaxW(sc []float32) {
	c := m.cfg
	tensor.Scale(sc, float32(c.scaling))
	if c.attnCap > 0 {
		for j, x := range sc {
			sc[j] = float32(c.attnCap * math.Tanh(float64(x)/c.attnCap))
		}
	}
	best := maxF32(sc)
	var sum float64
	for lo := 0; lo < len(sc); lo += expChunk {
		sum += float64(expStore(sc[lo:min(len(sc), lo+expChunk)], best))
	}
	mulF64(sc, 1/sum)
}

// check validates a sequence of ids against the vocabulary.
func (m *Model) check(ids []int) error {
	if len(ids) == 0 {
		return fmt.Errorf("%w: empty sequence", ErrToken)
	}
	for i, id := range ids {
		if id < 0 || id >= m.cfg.vocab {
			return fmt.Errorf("%w: id %d at position %d is outside the vocabulary [0, %d)", ErrToken, id, i, m.cfg.vocab)
		}
	}
	return nil
}

// headRows is how many positions LogProbs runs through the output layer
// at a time: as many as fit in 32 MiB of logits (so that a large
// vocabulary is read from memory few times), at least 8.
func (m *Model) headRows() int { return max(8, (32<<20)/(4*m.cfg.vocab)) }

// logitsOf computes the logits of hidden rows [lo, hi) into dst
// [hi-lo, vocab], soft-capped when the model asks for it.
func (m *Model) logitsOf(dst, hidden []float32, lo, hi int) {
	H := m.cfg.hidden
	matmul(m.threads, dst, hidden[lo*H:hi*H], hi-lo, m.head, nil)
	if m.cfg.finalCap > 0 {
		softcap(dst[:(hi-lo)*m.cfg.vocab], m.cfg.finalCap)
	}
}

// Logits returns the logits at every position of ids, row-major
// [len(ids), VocabSize()]: row i scores the token that follows ids[:i+1].
func (m *Model) Logits(ids []int) ([]float32, error) {
	out, err := m.LogitsBatch([][]int{ids})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// LogitsBatch is Logits for several sequences, of any lengths, run through
// the model together so that the matrix products see more rows at once.
func (m *Model) LogitsBatch(seqs [][]int) ([][]float32, error) {
	segs, err := m.segments(seqs)
	if err != nil {
		return nil, err
	}
	hidden := m.forward(segs, nil)
	releaseAll(segs)
	out := make([][]float32, len(segs))
	for i, s := range segs {
		out[i] = make([]float32, len(s.ids)*m.cfg.vocab)
		m.logitsOf(out[i], hidden, s.off, s.off+len(s.ids))
	}
	return out, nil
}

// releaseAll releases the caches of segments (from segments) that are done.
func releaseAll(segs []seg) {
	for _, s := range segs {
		s.c.release()
	}
}

func (m *Model) segments(seqs [][]int) ([]seg, error) {
	segs := make([]seg, len(seqs))
	for i, ids := range seqs {
		if err := m.check(ids); err != nil {
			return nil, fmt.Errorf("sequence %d: %w", i, err)
		}
		segs[i] = seg{ids: ids, c: m.newCache()}
	}
	return segs, nil
}

// LogProbs returns log p(ids[i] | ids[:i]) for i = 1 .. len(ids)-1, at
// index i-1: len(ids)-1 values. Each is a log-softmax over the vocabulary,
// max-subtracted so it cannot overflow, with float32 exponentials summed in
// float32 within blocks of 1024 and the blocks in float64; the logits
// are computed a block of positions at a time (at most 32 MiB) and never
// held all at once.
func (m *Model) LogProbs(ids []int) ([]float64, error) {
	out, err := m.LogProbsBatch([][]int{ids})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// LogProbsBatch is LogProbs for several sequences run through the model
// together.
func (m *Model) LogProbsBatch(seqs [][]int) ([][]float64, error) {
	segs, err := m.segments(seqs)
	if err != nil {
		return nil, err
	}
	if m.dev != nil {
		return m.deviceLogProbs(seqs)
	}
	hidden := m.forward(segs, nil)
	releaseAll(segs)
	V := m.cfg.vocab
	block := m.headRows()
	buf := getFloats(block * V)
	defer floatPool.Put(buf)
	logits := *buf
	out := make([][]float64, len(segs))
	for si, s := range segs {
		out[si] = make([]float64, len(s.ids)-1)
		for lo := 0; lo < len(s.ids)-1; lo += block {
			hi := min(len(s.ids)-1, lo+block)
			m.logitsOf(logits, hidden, s.off+lo, s.off+hi)
			for i := lo; i < hi; i++ {
				out[si][i] = logProbAt(logits[(i-lo)*V:(i-lo+1)*V], s.ids[i+1])
			}
		}
	}
	return out, nil
}

// ContinuationLogProbs scores several continuations of one context, as
// multiple-choice tasks do: out[i][j] is log p(conts[i][j] | context,
// conts[i][:j]). The context runs through the model once; its keys and
// values are then shared by all continuations, which run as one batch.
// The result equals LogProbs(append(context, conts[i]...))[len(context)-1:].
func (m *Model) ContinuationLogProbs(context []int, conts [][]int) ([][]float64, error) {
	if err := m.check(context); err != nil {
		return nil, fmt.Errorf("context: %w", err)
	}
	if m.dev != nil {
		return m.deviceContinuations(context, conts)
	}
	ctx := m.newCache()
	hidden := m.forward([]seg{{ids: context, c: ctx}}, nil)
	V := m.cfg.vocab
	first := make([]float32, V)
	m.logitsOf(first, hidden, len(context)-1, len(context))
	segs := make([]seg, len(conts))
	for i, ids := range conts {
		if err := m.check(ids); err != nil {
			return nil, fmt.Errorf("continuation %d: %w", i, err)
		}
		c := &cache{pos: ctx.pos, k: make([][]float32, len(ctx.k)), v: make([][]float32, len(ctx.v))}
		for li := range ctx.k {
			// Capped slices: the first append copies, so the shared
			// context is never written.
			c.k[li] = ctx.k[li][:len(ctx.k[li]):len(ctx.k[li])]
			c.v[li] = ctx.v[li][:len(ctx.v[li]):len(ctx.v[li])]
		}
		segs[i] = seg{ids: ids, c: c}
	}
	hidden = m.forward(segs, nil)
	block := m.headRows()
	logits := make([]float32, block*V)
	out := make([][]float64, len(segs))
	for si, s := range segs {
		out[si] = make([]float64, len(s.ids))
		out[si][0] = logProbAt(first, s.ids[0])
		for lo := 0; lo < len(s.ids)-1; lo += block {
			hi := min(len(s.ids)-1, lo+block)
			m.logitsOf(logits, hidden, s.off+lo, s.off+hi)
			for i := lo; i < hi; i++ {
				out[si][i+1] = logProbAt(logits[(i-lo)*V:(i-lo+1)*V], s.ids[i+1])
			}
		}
	}
	return out, nil
}

// HiddenStates returns the residual stream of ids at every layer boundary:
// numLayers+1 slices, each [len(ids), hidden size] row-major. Entry l < numLayers
// is the hidden state entering layer l (entry 0 is the embedding output,
// after any embedding scale), as transformers' output_hidden_states lists it;
// the last entry is the last layer's output before the final norm (where
// transformers lists the final norm's output instead).
func (m *Model) HiddenStates(ids []int) ([][]float32, error) {
	if err := m.check(ids); err != nil {
		return nil, err
	}
	out := make([][]float32, 0, m.cfg.layers+1)
	m.forward([]seg{{ids: ids, c: m.newCache()}}, &probe{hidden: func(h []float32) {
		out = append(out, append([]float32(nil), h...))
	}})
	return out, nil
}

// logProbAt returns log softmax(row)[target], by logSoftmaxStats.
func logProbAt(row []float32, target int) float64 {
	lse, _ := logSoftmaxStats(row)
	return float64(row[target]) - lse
}

// Generate runs ids through the model and then appends greedily (argmax,
// lowest id on ties) up to n new tokens, reusing each position's keys and
// values. It returns the new tokens only, stopping early after emitting any
// of stop (which is then the last token returned). It is a Session fed ids
// and generating with the zero GenerateOptions' greedy choice, except that
// the last token is not fed: nothing would read its keys, values or logits.
func (m *Model) Generate(ids []int, n int, stop ...int) ([]int, error) {
	if err := m.check(ids); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	s := m.NewSession()
	defer s.c.release() // s never leaves this call
	if err := s.Feed(ids); err != nil {
		return nil, err
	}
	return s.generate(context.Background(), GenerateOptions{MaxNewTokens: n, Stop: stop}, nil, false)
}
