package tokenizer

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"
)

// unigram is the Hugging Face Unigram model: the segmentation with the
// highest total piece score (Viterbi), unknown characters fused into one
// unk piece, optional byte fallback.
type unigram struct {
	pieces       []string
	scores       []float64
	ids          map[string]int
	trie         *trie // over all pieces; token index = id
	unk          int   // -1 when none
	byteFallback bool
	fuseUnk      bool
	minScore     float64
	byteIDs      [256]int

	mu    sync.RWMutex
	cache map[string][]int
}

// unkPenalty is K_UNK_PENALTY of sentencepiece and the Rust crate.
const unkPenalty = 10.0

type unigramJSON struct {
	UnkID        *int              `json:"unk_id"`
	Vocab        []json.RawMessage `json:"vocab"`
	ByteFallback bool              `json:"byte_fallback"`
}

func newUnigram(j *unigramJSON) (*unigram, error) {
	m := &unigram{ids: map[string]int{}, trie: newTrie(), unk: -1, byteFallback: j.ByteFallback, fuseUnk: true,
		minScore: math.Inf(1), cache: map[string][]int{}}
	for i, raw := range j.Vocab {
		var pair []json.RawMessage
		var tok string
		var score float64
		if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("vocab entry %d: want [piece, score]", i)
		}
		if err := json.Unmarshal(pair[0], &tok); err != nil {
			return nil, fmt.Errorf("vocab entry %d piece: %w", i, err)
		}
		if err := json.Unmarshal(pair[1], &score); err != nil {
			return nil, fmt.Errorf("vocab entry %d score: %w", i, err)
		}
		m.pieces = append(m.pieces, tok)
		m.scores = append(m.scores, score)
		if _, dup := m.ids[tok]; !dup {
			m.ids[tok] = i
		}
		m.trie.add(tok, i)
		m.minScore = min(m.minScore, score)
	}
	if j.UnkID != nil {
		if *j.UnkID < 0 || *j.UnkID >= len(m.pieces) {
			return nil, fmt.Errorf("unk_id %d out of range", *j.UnkID)
		}
		m.unk = *j.UnkID
	}
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
		if id, ok := m.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	return m, nil
}

func (m *unigram) tokenToID(tok string) (int, bool) {
	id, ok := m.ids[tok]
	return id, ok
}

func (m *unigram) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(m.pieces) {
		return "", false
	}
	return m.pieces[id], true
}

func (m *unigram) size() int { return len(m.pieces) }

func (m *unigram) tokenize(dst []int, s string) []int {
	if s == "" {
		return dst
	}
	m.mu.RLock()
	ids, ok := m.cache[s]
	m.mu.RUnlock()
	if ok {
		return append(dst, ids...)
	}
	start := len(dst)
	for _, p := range m.viterbi(s) {
		if id, ok := m.ids[p]; ok {
			dst = append(dst, id)
			continue
		}
		if m.byteFallback {
			all := true
			for k := 0; k < len(p); k++ {
				all = all && m.byteIDs[p[k]] >= 0
			}
			if all {
				for k := 0; k < len(p); k++ {
					dst = append(dst, m.byteIDs[p[k]])
				}
				continue
			}
		}
		if m.unk >= 0 {
			dst = append(dst, m.unk)
		}
	}
	if len(s) <= bpeCacheMaxLen {
		m.mu.Lock()
		if len(m.cache) < bpeCacheSize {
			m.cache[s] = append([]int(nil), dst[start:]...)
		}
		m.mu.Unlock()
	}
	return dst
}

type uniNode struct {
	id    int
	score float64
	from  int // -1: not reached
}

// viterbi returns the best segmentation of s into piece strings, as the
// Rust encode_optimized does (ties keep the earlier, shorter candidate).
func (m *unigram) viterbi(s string) []string {
	unkScore := m.minScore - unkPenalty
	best := make([]uniNode, len(s)+1)
	for i := range best {
		best[i].from = -1
	}
	for at0 := 0; at0 < len(s); {
		here := best[at0].score
		_, mblen := at(s, at0)
		single := false
		n := 0
		for k := at0; k < len(s); k++ {
			nx, ok := m.trie.nodes[n].next[s[k]]
			if !ok {
				break
			}
			n = int(nx)
			id := int(m.trie.nodes[n].tok)
			if id < 0 {
				continue
			}
			end := k + 1
			if cand := m.scores[id] + here; best[end].from < 0 || cand > best[end].score {
				best[end] = uniNode{id, cand, at0}
			}
			if end-at0 == mblen {
				single = true
			}
		}
		if !single {
			end := at0 + mblen
			if cand := unkScore + here; best[end].from < 0 || cand > best[end].score {
				best[end] = uniNode{m.unk, cand, at0}
			}
		}
		at0 += mblen
	}
	var out []string
	var unkRun string
	for end := len(s); end > 0; {
		nd := best[end]
		if nd.from < 0 { // unreachable without an unk id
			return append(out, s[:end])
		}
		piece := s[nd.from:end]
		if m.fuseUnk && m.unk >= 0 && nd.id == m.unk {
			unkRun = piece + unkRun
		} else {
			if unkRun != "" {
				out = append(out, unkRun)
				unkRun = ""
			}
			out = append(out, piece)
		}
		end = nd.from
	}
	if unkRun != "" {
		out = append(out, unkRun)
	}
	for a, z := 0, len(out)-1; a < z; a, z = a+1, z-1 {
		out[a], out[z] = out[z], out[a]
	}
	return out
}
