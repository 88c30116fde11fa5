package model

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// TailLogProbs scores the last tokens of several sequences, as
// loglikelihood requests (a context and its continuation) need: for
// sequence s and j < tails[s], lp[s][j] is log p(ids[k] | ids[:k]) at
// k = len(ids)-tails[s]+j, and greedy[s][j] says whether ids[k] is the
// first maximum of its distribution. The last id of each sequence is only
// scored, never fed; 1 ≤ tails[s] < len(seqs[s]).
//
// It does the least work that answers this: sequences whose heads
// (ids[:len(ids)-tails[s]]) are equal, such as the choices of one
// multiple-choice question, run their head once and share its keys and
// values; the output layer runs only at the positions that predict a tail
// token, once per distinct position; and the log-softmax over the
// vocabulary is taken in float32 (exponentials summed in float32 within
// blocks of 1024, the blocks in float64), which agrees with LogProbs'
// float64 log-softmax to about 1e-6.
func (m *Model) TailLogProbs(seqs [][]int, tails []int) (lp [][]float64, greedy [][]bool, err error) {
	if len(tails) != len(seqs) {
		return nil, nil, fmt.Errorf("%d tails for %d sequences", len(tails), len(seqs))
	}
	for i, ids := range seqs {
		if err := m.check(ids); err != nil {
			return nil, nil, fmt.Errorf("sequence %d: %w", i, err)
		}
		if tails[i] < 1 || tails[i] >= len(ids) {
			return nil, nil, fmt.Errorf("%w: sequence %d: tail of %d tokens, want 1 to %d", ErrToken, i, tails[i], len(ids)-1)
		}
	}
	if m.dev != nil { // the device shares no heads: it needs no grouping
		return m.dev.TailLogProbs(seqs, tails, true)
	}
	headOf := make([]int, len(seqs))
	var heads []seg
	byHead := map[string]int{}
	for i, ids := range seqs {
		head := ids[:len(ids)-tails[i]]
		key := idsKey(head)
		h, ok := byHead[key]
		if !ok {
			h = len(heads)
			byHead[key] = h
			heads = append(heads, seg{ids: head, c: m.newCache()})
		}
		headOf[i] = h
	}
	H := m.cfg.hidden
	hidden := m.forward(heads, nil)
	// The last position of each head predicts the first tail token of
	// every sequence sharing it: one output row per head.
	rows := make([]scoreRow, len(heads))
	for h, s := range heads {
		last := s.off + len(s.ids) - 1
		rows[h].h = hidden[last*H : (last+1)*H]
	}
	lp, greedy = make([][]float64, len(seqs)), make([][]bool, len(seqs))
	var segs []seg
	var segSeq []int
	for i, ids := range seqs {
		lp[i], greedy[i] = make([]float64, tails[i]), make([]bool, tails[i])
		first := len(ids) - tails[i]
		rows[headOf[i]].targets = append(rows[headOf[i]].targets, target{ids[first], &lp[i][0], &greedy[i][0]})
		if tails[i] > 1 {
			segs = append(segs, seg{ids: ids[first : len(ids)-1], c: heads[headOf[i]].c.fork()})
			segSeq = append(segSeq, i)
		}
	}
	if len(segs) > 0 {
		hidden = m.forward(segs, nil)
		for k, s := range segs {
			i := segSeq[k]
			first := len(seqs[i]) - tails[i]
			for j := range s.ids {
				t := s.off + j
				rows = append(rows, scoreRow{h: hidden[t*H : (t+1)*H],
					targets: []target{{seqs[i][first+j+1], &lp[i][j+1], &greedy[i][j+1]}}})
			}
		}
	}
	m.scoreRows(rows)
	return lp, greedy, nil
}

// fork returns a cache that starts as c and shares its contents: the
// slices are capped, so the first append copies and c is never written.
func (c *cache) fork() *cache {
	f := &cache{pos: c.pos, k: make([][]float32, len(c.k)), v: make([][]float32, len(c.v))}
	for li := range c.k {
		f.k[li] = c.k[li][:len(c.k[li]):len(c.k[li])]
		f.v[li] = c.v[li][:len(c.v[li]):len(c.v[li])]
	}
	return f
}

func idsKey(ids []int) string {
	b := make([]byte, 0, 3*len(ids))
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return string(b)
}

// scoreRow is one final hidden state and the tokens to score against the
// distribution it predicts.
type scoreRow struct {
	h       []float32
	targets []target
}

type target struct {
	tok    int
	lp     *float64
	greedy *bool
}

// scoreRows runs the output layer over rows a block at a time and fills
// in their targets' log-probabilities and greediness.
func (m *Model) scoreRows(rows []scoreRow) {
	H, V := m.cfg.hidden, m.cfg.vocab
	block := min(len(rows), m.headRows())
	x := make([]float32, block*H)
	buf := getFloats(block * V)
	defer floatPool.Put(buf)
	logits := *buf
	for lo := 0; lo < len(rows); lo += block {
		hi := min(len(rows), lo+block)
		for r := lo; r < hi; r++ {
			copy(x[(r-lo)*H:], rows[r].h)
		}
		m.logitsOf(logits, x, 0, hi-lo)
		m.rows(hi-lo, func(r int) {
			row := logits[r*V : (r+1)*V]
			lse, arg := logSoftmaxStats(row)
			for _, t := range rows[lo+r].targets {
				*t.lp = float64(row[t.tok]) - lse
				*t.greedy = arg == t.tok
			}
		})
	}
}

// floatPool recycles the logits blocks of scoring: at up to 32 MiB a
// call, allocating them anew made the garbage collector run every few
// calls.
var floatPool sync.Pool

// getFloats returns a slice of n floats from floatPool (contents
// undefined); put it back when done.
func getFloats(n int) *[]float32 {
	if p, ok := floatPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]float32, n)
	return &b
}
