package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// AddedToken is an entry of tokenizer.json's added_tokens: a token matched
// in the text before the model runs.
type AddedToken struct {
	ID      int    `json:"id"`
	Content string `json:"content"`
	// Special tokens are skipped by Decode with skipSpecial.
	Special bool `json:"special"`
	// Normalized tokens are matched in the normalized text, the others in
	// the raw input.
	Normalized bool `json:"normalized"`
	// LStrip and RStrip make a match swallow the whitespace on its left or
	// right; SingleWord only matches outside words.
	LStrip     bool `json:"lstrip"`
	RStrip     bool `json:"rstrip"`
	SingleWord bool `json:"single_word"`
}

// trie is a byte trie for leftmost-longest matching of added tokens.
type trie struct {
	nodes []trieNode
	first [256]bool
}

type trieNode struct {
	next map[byte]int32
	tok  int32 // index into the token list, -1 if none
}

func newTrie() *trie { return &trie{nodes: []trieNode{{tok: -1}}} }

func (t *trie) add(s string, tok int) {
	if s == "" {
		return
	}
	t.first[s[0]] = true
	n := 0
	for i := 0; i < len(s); i++ {
		nx, ok := t.nodes[n].next[s[i]]
		if !ok {
			if t.nodes[n].next == nil {
				t.nodes[n].next = map[byte]int32{}
			}
			t.nodes = append(t.nodes, trieNode{tok: -1})
			nx = int32(len(t.nodes) - 1)
			t.nodes[n].next[s[i]] = nx
		}
		n = int(nx)
	}
	if t.nodes[n].tok < 0 {
		t.nodes[n].tok = int32(tok)
	}
}

// longest returns the token and end of the longest match starting at i.
func (t *trie) longest(s string, i int) (tok, end int) {
	tok, end = -1, -1
	n := 0
	for k := i; k < len(s); k++ {
		nx, ok := t.nodes[n].next[s[k]]
		if !ok {
			break
		}
		n = int(nx)
		if t.nodes[n].tok >= 0 {
			tok, end = int(t.nodes[n].tok), k+1
		}
	}
	return tok, end
}

// addedVocab splits added tokens out of the input as the Rust
// AddedVocabulary does: raw-text tokens first, then the normalized pieces.
type addedVocab struct {
	tokens     []AddedToken
	byContent  map[string]int // content -> id
	byID       map[int]int    // id -> index in tokens
	raw, normd *trie
}

// assignIDs gives added tokens the ids the Rust crate gives them when it
// loads tokenizer.json: the file's ids are not used; a token already in the
// model vocabulary (or added before) keeps that id, a new one gets the next
// id after the vocabulary and the added tokens. Empty tokens and exact
// repeats are dropped. Special tokens come first, as in its matcher.
func assignIDs(tokens []AddedToken, m model) []AddedToken {
	vocabLen := m.size()
	if b, ok := m.(*bpe); ok {
		vocabLen = len(b.vocab)
	}
	byContent := map[string]int{}
	byID := map[int]int{} // id -> index in out
	var out []AddedToken
	maxID := -1
	for _, t := range tokens {
		if t.Content == "" {
			continue
		}
		if id, ok := byContent[t.Content]; ok {
			same := t
			same.ID = id
			if out[byID[id]] == same {
				continue
			}
		}
		id, ok := byContent[t.Content]
		if !ok {
			if mid, inModel := m.tokenToID(t.Content); inModel {
				id = mid
			} else if maxID < 0 {
				id = vocabLen
			} else if maxID >= vocabLen || vocabLen == 0 {
				id = maxID + 1
			} else {
				id = vocabLen
			}
		}
		t.ID = id
		byContent[t.Content] = id
		maxID = max(maxID, id)
		if k, ok := byID[id]; ok {
			out[k] = t
			continue
		}
		byID[id] = len(out)
		out = append(out, t)
	}
	// Special tokens first, then the others, each in file order.
	sorted := make([]AddedToken, 0, len(out))
	for _, special := range []bool{true, false} {
		for _, t := range out {
			if t.Special == special {
				sorted = append(sorted, t)
			}
		}
	}
	return sorted
}

func newAddedVocab(tokens []AddedToken, n normalizer) *addedVocab {
	a := &addedVocab{tokens: tokens, byContent: map[string]int{}, byID: map[int]int{}, raw: newTrie(), normd: newTrie()}
	for i, t := range tokens {
		a.byContent[t.Content] = t.ID
		a.byID[t.ID] = i
	}
	for i, t := range tokens {
		if t.Normalized {
			c := t.Content
			if n != nil {
				c = n.normalize(c)
			}
			a.normd.add(c, i)
		} else {
			a.raw.add(t.Content, i)
		}
	}
	return a
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' }

// segment is a piece of input: an added token (id >= 0) or text.
type segment struct {
	text    string
	id      int
	atStart bool
}

// find appends the segments of s split at the matches of t.
func (a *addedVocab) find(dst []segment, s string, t *trie, atStart bool) []segment {
	if len(t.nodes) == 1 || s == "" {
		if s != "" {
			dst = append(dst, segment{s, -1, atStart})
		}
		return dst
	}
	startOff := 0
	for i := 0; i < len(s); {
		if !t.first[s[i]] {
			i++
			continue
		}
		k, end := t.longest(s, i)
		if k < 0 {
			i++
			continue
		}
		tok := a.tokens[k]
		lo, hi := i, end
		i = end
		if tok.SingleWord {
			before, _ := utf8.DecodeLastRuneInString(s[:lo])
			after, _ := utf8.DecodeRuneInString(s[hi:])
			if (lo > 0 && isWordRune(before)) || (hi < len(s) && isWordRune(after)) {
				continue
			}
		}
		if tok.LStrip {
			nl := len(strings.TrimRightFunc(s[:lo], unicode.IsSpace))
			lo = max(nl, startOff)
		}
		if tok.RStrip {
			hi += len(s[hi:]) - len(strings.TrimLeftFunc(s[hi:], unicode.IsSpace))
		}
		if lo > startOff {
			dst = append(dst, segment{s[startOff:lo], -1, atStart && startOff == 0})
		}
		dst = append(dst, segment{"", tok.ID, false})
		startOff = hi
		i = max(i, hi)
	}
	if startOff < len(s) {
		dst = append(dst, segment{s[startOff:], -1, atStart && startOff == 0})
	}
	return dst
}

// extract splits text into added tokens and normalized text segments.
func (a *addedVocab) extract(text string, n normalizer) []segment {
	first := a.find(nil, text, a.raw, true)
	var out []segment
	for _, sg := range first {
		if sg.id >= 0 {
			out = append(out, sg)
			continue
		}
		s := sg.text
		if n != nil {
			s = n.normalize(s)
		}
		out = a.find(out, s, a.normd, sg.atStart)
	}
	return out
}
