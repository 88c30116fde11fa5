package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// A model turns one pre-tokenized word into ids.
type model interface {
	tokenize(dst []int, word string) []int
	tokenToID(tok string) (int, bool)
	idToToken(id int) (string, bool)
	// size is one more than the largest id.
	size() int
}

// Merge is one BPE merge rule: Left and Right join into Left+Right.
type Merge struct{ Left, Right string }

type mergeValue struct{ rank, newID int32 }

// bpe is the Hugging Face BPE model.
type bpe struct {
	vocab        map[string]int
	vocabR       []string
	merges       *mergeTable
	mergeList    []Merge
	unk          int // -1 when none
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	byteIDs      [256]int

	mu      sync.RWMutex
	cache   map[string][]int
	noCache bool // for benchmarks
}

const (
	bpeCacheSize   = 1 << 16
	bpeCacheMaxLen = 256
)

type bpeJSON struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Dropout                 *float64        `json:"dropout"`
}

func parseMerges(raw json.RawMessage) ([]Merge, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		out := make([]Merge, len(strs))
		for i, s := range strs {
			l, r, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(r, " ") {
				return nil, fmt.Errorf("merge %d %q: want two tokens separated by one space", i+1, s)
			}
			out[i] = Merge{l, r}
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("merges: want strings or pairs: %w", err)
	}
	out := make([]Merge, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("merge %d: want a pair, got %d strings", i+1, len(p))
		}
		out[i] = Merge{p[0], p[1]}
	}
	return out, nil
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// newBPE builds the model over vocab, j's vocabulary decoded and checked
// with tokfile.CheckBounds (its ids size a table here).
func newBPE(j *bpeJSON, vocab map[string]int) (*bpe, error) {
	m := &bpe{vocab: vocab, unk: -1, fuseUnk: j.FuseUnk, byteFallback: j.ByteFallback,
		ignoreMerges: j.IgnoreMerges, cache: map[string][]int{}}
	if m.vocab == nil {
		m.vocab = map[string]int{}
	}
	if j.ContinuingSubwordPrefix != nil {
		m.prefix = *j.ContinuingSubwordPrefix
	}
	if j.EndOfWordSuffix != nil {
		m.suffix = *j.EndOfWordSuffix
	}
	maxID := -1
	for _, id := range m.vocab {
		maxID = max(maxID, id)
	}
	m.vocabR = make([]string, maxID+1)
	for tok, id := range m.vocab {
		m.vocabR[id] = tok
	}
	if j.UnkToken != nil {
		id, ok := m.vocab[*j.UnkToken]
		if !ok {
			return nil, fmt.Errorf("unk_token %q not in vocab", *j.UnkToken)
		}
		m.unk = id
	}
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
		if id, ok := m.vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	merges, err := parseMerges(j.Merges)
	if err != nil {
		return nil, err
	}
	m.mergeList = merges
	m.merges = newMergeTable(len(merges))
	for i, mg := range merges {
		a, ok := m.vocab[mg.Left]
		if !ok {
			return nil, fmt.Errorf("merge %d: token %q not in vocab", i+1, mg.Left)
		}
		b, ok := m.vocab[mg.Right]
		if !ok {
			return nil, fmt.Errorf("merge %d: token %q not in vocab", i+1, mg.Right)
		}
		right := mg.Right
		if strings.HasPrefix(right, m.prefix) {
			right = right[len(m.prefix):]
		}
		n, ok := m.vocab[mg.Left+right]
		if !ok {
			return nil, fmt.Errorf("merge %d: result %q not in vocab", i+1, mg.Left+right)
		}
		m.merges.put(pairKey(a, b), mergeValue{int32(i), int32(n)})
	}
	return m, nil
}

func (m *bpe) tokenToID(tok string) (int, bool) {
	id, ok := m.vocab[tok]
	return id, ok
}

func (m *bpe) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(m.vocabR) {
		return "", false
	}
	t := m.vocabR[id]
	if t == "" {
		if _, ok := m.vocab[""]; !ok || m.vocab[""] != id {
			return "", false
		}
	}
	return t, true
}

func (m *bpe) size() int { return len(m.vocabR) }

func (m *bpe) tokenize(dst []int, word string) []int {
	if word == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(dst, id)
		}
	}
	if m.noCache {
		return m.mergeWord(dst, word)
	}
	m.mu.RLock()
	ids, ok := m.cache[word]
	m.mu.RUnlock()
	if ok {
		return append(dst, ids...)
	}
	start := len(dst)
	dst = m.mergeWord(dst, word)
	if len(word) <= bpeCacheMaxLen {
		m.mu.Lock()
		if len(m.cache) < bpeCacheSize {
			m.cache[word] = append([]int(nil), dst[start:]...)
		}
		m.mu.Unlock()
	}
	return dst
}

// symbol is one element of the doubly linked list a word is merged in.
type symbol struct {
	id         int32
	prev, next int32
	gone       bool
}

// mergeItem is a candidate merge of the pair starting at pos.
type mergeItem struct {
	rank, pos, newID int32
}

func (m *bpe) initialSymbols(syms []symbol, word string) []symbol {
	add := func(id int) {
		syms = append(syms, symbol{id: int32(id)})
	}
	unkPending := false
	flushUnk := func() {
		if unkPending {
			add(m.unk)
			unkPending = false
		}
	}
	for i := 0; i < len(word); {
		_, w := at(word, i)
		s := word[i : i+w]
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if i+w == len(word) && m.suffix != "" {
			s += m.suffix
		}
		i += w
		if id, ok := m.vocab[s]; ok {
			flushUnk()
			add(id)
			continue
		}
		if m.byteFallback {
			all := true
			for k := 0; k < len(s); k++ {
				if m.byteIDs[s[k]] < 0 {
					all = false
					break
				}
			}
			if all {
				// Rust leaves a pending unk in place here: it is flushed
				// only before the next known character.
				for k := 0; k < len(s); k++ {
					add(m.byteIDs[s[k]])
				}
				continue
			}
		}
		if m.unk >= 0 {
			if unkPending && !m.fuseUnk {
				add(m.unk)
			}
			unkPending = true
		}
	}
	flushUnk()
	return syms
}

// bpeScratch is the per-call working memory of mergeWord, pooled.
type bpeScratch struct {
	syms []symbol
	heap mergeHeap
}

var bpeScratchPool = sync.Pool{New: func() any { return new(bpeScratch) }}

func (m *bpe) mergeWord(dst []int, word string) []int {
	sc := bpeScratchPool.Get().(*bpeScratch)
	defer bpeScratchPool.Put(sc)
	syms := m.initialSymbols(sc.syms[:0], word)
	sc.syms = syms
	n := len(syms)
	for i := range syms {
		syms[i].prev = int32(i - 1)
		syms[i].next = int32(i + 1)
	}
	if n > 0 {
		syms[n-1].next = -1
	}
	h := sc.heap[:0]
	defer func() { sc.heap = h }()
	for i := 0; i+1 < n; i++ {
		if v, ok := m.merges.get(pairKey(int(syms[i].id), int(syms[i+1].id))); ok {
			h.push(mergeItem{v.rank, int32(i), v.newID})
		}
	}
	for len(h) > 0 {
		top := h.pop()
		s := &syms[top.pos]
		if s.gone || s.next == -1 {
			continue
		}
		next := s.next
		v, ok := m.merges.get(pairKey(int(s.id), int(syms[next].id)))
		if !ok || v.newID != top.newID {
			continue
		}
		s.id = top.newID
		syms[next].gone = true
		s.next = syms[next].next
		if s.next != -1 {
			syms[s.next].prev = top.pos
		}
		if s.prev != -1 {
			p := s.prev
			if v, ok := m.merges.get(pairKey(int(syms[p].id), int(s.id))); ok {
				h.push(mergeItem{v.rank, p, v.newID})
			}
		}
		if s.next != -1 {
			if v, ok := m.merges.get(pairKey(int(s.id), int(syms[s.next].id))); ok {
				h.push(mergeItem{v.rank, top.pos, v.newID})
			}
		}
	}
	for i := range syms {
		if !syms[i].gone {
			dst = append(dst, int(syms[i].id))
		}
	}
	return dst
}

// mergeHeap is a binary min-heap on (rank, pos).
type mergeHeap []mergeItem

func (a mergeItem) less(b mergeItem) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

func (h *mergeHeap) push(x mergeItem) {
	*h = append(*h, x)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q[i].less(q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeItem {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		c := l
		if r := l + 1; r < len(q) && q[r].less(q[l]) {
			c = r
		}
		if !q[c].less(q[i]) {
			break
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
	*h = q
	return top
}
