// Package tokenizer is a Hugging Face tokenizer in Go. It loads
// tokenizer.json (BPE with byte-level or SentencePiece-style pieces and
// byte fallback, Unigram; added and special tokens; the normalizers,
// pre-tokenizers, post-processors and decoders the Llama, Mistral, Qwen,
// Gemma and GPT-2 families use) or a SentencePiece BPE tokenizer.model, plus
// the side files that name bos/eos/pad/unk, and encodes and decodes token
// for token like the Rust tokenizers crate.
//
// The split regexes of the byte-level families use look-ahead, which Go's
// regexp lacks; the GPT-2, Llama-3 (cl100k-like) and Qwen2 patterns have
// exact hand-written matchers, and other patterns must be RE2 syntax.
// Not supported: WordPiece and WordLevel models, the Precompiled and
// BertNormalizer normalizers, BPE dropout, pair encoding, offsets.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

// ErrFormat is wrapped by every error about malformed tokenizer data.
var ErrFormat = errors.New("tokenizer: malformed tokenizer data")

// Tokenizer encodes text to token ids and back. It is safe for concurrent
// use.
type Tokenizer struct {
	modelType string
	model     model
	norm      normalizer
	pre       preTokenizer
	post      postProcessor
	dec       decoder
	added     *addedVocab
	declared  []AddedToken        // added_tokens with the file's ids
	raw       []byte              // tokenizer.json as read
	sp        *SentencePieceModel // tokenizer.model as read

	// Config holds what the side files say about special tokens; Load
	// fills it, FromJSON leaves it empty.
	Config Config
}

type tokenizerJSON struct {
	AddedTokens   json.RawMessage `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// FromJSON parses the contents of a tokenizer.json file. Its ids must pass
// tokfile.CheckBounds (the error then wraps both ErrFormat and the
// *tokfile.IDError or tokfile.ErrEmptyVocab), and data must not be over
// tokfile.MaxFileSize (tokfile.ErrTooLarge). Added tokens whose ids in the
// file disagree with the model's are loaded as the Rust crate loads them
// (see AddedIDMismatches), not refused: their file ids are not used.
func FromJSON(data []byte) (*Tokenizer, error) {
	if len(data) > tokfile.MaxFileSize {
		return nil, fmt.Errorf("%w: tokenizer.json: %w: %d bytes", ErrFormat, tokfile.ErrTooLarge, len(data))
	}
	var j tokenizerJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, formatErr("tokenizer.json: %v", err)
	}
	if len(j.Model) == 0 || string(j.Model) == "null" {
		return nil, formatErr("tokenizer.json: no model")
	}
	var mt struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(j.Model, &mt); err != nil {
		return nil, formatErr("tokenizer.json model: %v", err)
	}
	fileAdded, err := tokfile.DecodeAdded(j.AddedTokens)
	if err != nil {
		return nil, fmt.Errorf("%w: tokenizer.json: %w", ErrFormat, err)
	}
	added := make([]AddedToken, len(fileAdded))
	for i, a := range fileAdded {
		added[i] = AddedToken{ID: a.ID, Content: a.Content, Special: a.Special, Normalized: a.Normalized,
			LStrip: a.LStrip, RStrip: a.RStrip, SingleWord: a.SingleWord}
	}
	checkIDs := func(vocab map[string]int) error {
		if err := tokfile.CheckBounds(vocab, fileAdded); err != nil {
			return fmt.Errorf("%w: tokenizer.json: %w", ErrFormat, err)
		}
		return nil
	}
	t := &Tokenizer{modelType: mt.Type, raw: data}
	switch mt.Type {
	case "BPE", "":
		var bj bpeJSON
		if err := json.Unmarshal(j.Model, &bj); err != nil {
			return nil, formatErr("tokenizer.json BPE model: %v", err)
		}
		if bj.Dropout != nil && *bj.Dropout > 0 && *bj.Dropout < 1 {
			return nil, formatErr("tokenizer.json BPE model: dropout %v is not supported", *bj.Dropout)
		}
		vocab, err := tokfile.DecodeVocab(bj.Vocab)
		if err != nil {
			return nil, fmt.Errorf("%w: tokenizer.json: %w", ErrFormat, err)
		}
		// The ids are checked before newBPE sizes its id table by them.
		if err := checkIDs(vocab); err != nil {
			return nil, err
		}
		m, err := newBPE(&bj, vocab)
		if err != nil {
			return nil, formatErr("tokenizer.json BPE model: %v", err)
		}
		t.model, t.modelType = m, "BPE"
	case "Unigram":
		var uj unigramJSON
		if err := json.Unmarshal(j.Model, &uj); err != nil {
			return nil, formatErr("tokenizer.json Unigram model: %v", err)
		}
		m, err := newUnigram(&uj)
		if err != nil {
			return nil, formatErr("tokenizer.json Unigram model: %v", err)
		}
		if err := checkIDs(m.ids); err != nil {
			return nil, err
		}
		t.model = m
	default:
		return nil, formatErr("tokenizer.json: unsupported model type %q", mt.Type)
	}
	if t.norm, err = parseNormalizer(j.Normalizer); err != nil {
		return nil, formatErr("tokenizer.json normalizer: %v", err)
	}
	if t.pre, err = parsePreTokenizer(j.PreTokenizer); err != nil {
		return nil, formatErr("tokenizer.json pre_tokenizer: %v", err)
	}
	if t.post, err = parsePostProcessor(j.PostProcessor); err != nil {
		return nil, formatErr("tokenizer.json post_processor: %v", err)
	}
	if t.dec, err = parseDecoder(j.Decoder); err != nil {
		return nil, formatErr("tokenizer.json decoder: %v", err)
	}
	t.declared = added
	t.added = newAddedVocab(assignIDs(added, t.model), t.norm)
	return t, nil
}

// Encode returns the ids of text. With addSpecial the post-processor adds
// the tokenizer's special tokens (such as BOS); added tokens written in the
// text are always recognised.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	var ids []int
	var words []piece
	for _, sg := range t.added.extract(text, t.norm) {
		if sg.id >= 0 {
			ids = append(ids, sg.id)
			continue
		}
		words = words[:0]
		p := piece{sg.text, sg.atStart}
		if t.pre != nil {
			words = t.pre.preTokenize(words, p)
		} else if p.s != "" {
			words = append(words, p)
		}
		for _, w := range words {
			ids = t.model.tokenize(ids, w.s)
		}
	}
	if addSpecial && t.post != nil {
		ids = t.post.process(ids)
	}
	return ids
}

// Decode returns the text of ids, leaving out special added tokens when
// skipSpecial is set. Unknown ids are skipped.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if k, ok := t.added.byID[id]; ok {
			if skipSpecial && t.added.tokens[k].Special {
				continue
			}
			toks = append(toks, t.added.tokens[k].Content)
			continue
		}
		if s, ok := t.model.idToToken(id); ok {
			toks = append(toks, s)
		}
	}
	if t.dec == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.dec.decodeChain(toks), "")
}

// Tokens returns the token strings of ids ("" for an unknown id).
func (t *Tokenizer) Tokens(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = t.IDToToken(id)
	}
	return out
}

// TokenToID returns the id of a token, added tokens first.
func (t *Tokenizer) TokenToID(tok string) (int, bool) {
	if id, ok := t.added.byContent[tok]; ok {
		return id, true
	}
	return t.model.tokenToID(tok)
}

// IDToToken returns the token of an id, added tokens first.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	if k, ok := t.added.byID[id]; ok {
		return t.added.tokens[k].Content, true
	}
	return t.model.idToToken(id)
}

// VocabSize is one more than the largest id of the model or added tokens.
func (t *Tokenizer) VocabSize() int {
	n := t.model.size()
	for _, a := range t.added.tokens {
		n = max(n, a.ID+1)
	}
	return n
}

// Vocab returns every token with its id, the model's and the added ones.
func (t *Tokenizer) Vocab() map[string]int {
	out := map[string]int{}
	for id := 0; id < t.model.size(); id++ {
		if s, ok := t.model.idToToken(id); ok {
			out[s] = id
		}
	}
	for _, a := range t.added.tokens {
		out[a.Content] = a.ID
	}
	return out
}

// ModelType is the model's type: "BPE" or "Unigram" for tokenizer.json
// models, "SentencePieceBPE" for a tokenizer.model.
func (t *Tokenizer) ModelType() string { return t.modelType }

// AddedTokens returns the added tokens in id order. Their ids are the ones
// the Rust crate assigns on load (see assignIDs), which match the file's
// for every well-formed tokenizer.json.
func (t *Tokenizer) AddedTokens() []AddedToken {
	out := append([]AddedToken(nil), t.added.tokens...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Merges returns the BPE merges in rank order (nil for models without).
func (t *Tokenizer) Merges() []Merge {
	if m, ok := t.model.(*bpe); ok {
		return append([]Merge(nil), m.mergeList...)
	}
	return nil
}

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int) bool {
	k, ok := t.added.byID[id]
	return ok && t.added.tokens[k].Special
}

// JSON returns the tokenizer.json the tokenizer was built from (nil for a
// tokenizer.model), for tools that rewrite it. The caller must not modify it.
func (t *Tokenizer) JSON() []byte { return t.raw }

// SentencePiece returns the parsed tokenizer.model the tokenizer was built
// from, or nil for a tokenizer.json.
func (t *Tokenizer) SentencePiece() *SentencePieceModel { return t.sp }

// SpecialIDs returns the ids the post-processor puts before and after a
// single sequence when Encode is called with addSpecial (for example BOS
// before, nothing after).
func (t *Tokenizer) SpecialIDs() (before, after []int) {
	if t.post == nil {
		return nil, nil
	}
	const marker = -1 << 40
	ids := t.post.process([]int{marker})
	for i, id := range ids {
		if id == marker {
			return append([]int(nil), ids[:i]...), append([]int(nil), ids[i+1:]...)
		}
	}
	return nil, nil
}

// IDMismatch is an added token whose id in tokenizer.json differs from the
// id it really gets (the Rust crate warns about these on load).
type IDMismatch struct {
	Content    string
	FileID, ID int
}

// AddedIDMismatches lists the added tokens of tokenizer.json whose file id
// is not the id they get: the content is already in the model vocabulary
// under another id, or the ids are not consecutive after the vocabulary.
func (t *Tokenizer) AddedIDMismatches() []IDMismatch {
	var out []IDMismatch
	for _, d := range t.declared {
		if id, ok := t.added.byContent[d.Content]; ok && id != d.ID {
			out = append(out, IDMismatch{d.Content, d.ID, id})
		}
	}
	return out
}
