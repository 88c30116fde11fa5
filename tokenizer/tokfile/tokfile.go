// Package tokfile reads and edits the files of a Hugging Face tokenizer
// (tokenizer.json) at the level a merge or a repair needs: the vocabulary,
// the added tokens and the BPE merges. It does not tokenize; every part of
// the file it does not change is written back byte for byte.
package tokfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
)

// File is a tokenizer.json read at the level a merge needs: its
// vocabulary, added tokens and BPE merges, with every other part kept as
// raw JSON so that a rewritten file differs from the original only where
// the merge changed it.
type File struct {
	path string
	// keys are the top-level keys in file order; raw their values.
	keys []string
	raw  map[string]json.RawMessage
	// modelKeys and model are the "model" object's keys and values.
	modelKeys []string
	model     map[string]json.RawMessage
	// ModelType is the model's "type": BPE, Unigram, WordPiece, WordLevel.
	ModelType string
	// Model is the model's own vocabulary, token → id (BPE, WordPiece and
	// WordLevel store an object; Unigram a list whose index is the id).
	Model   map[string]int
	unigram []json.RawMessage
	// Added are the added_tokens entries.
	Added  []AddedToken
	merges []json.RawMessage
}

// AddedToken is an entry of tokenizer.json's added_tokens.
type AddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// SameSettings reports whether two added tokens are defined alike.
func (a AddedToken) SameSettings(b AddedToken) bool {
	a.ID, b.ID = 0, 0
	return a == b
}

// ErrNoTokenizerJSON is returned, wrapped, by Load for a directory without
// tokenizer.json.
var ErrNoTokenizerJSON = errors.New("no tokenizer.json")

// Load reads dir/tokenizer.json.
func Load(dir string) (*File, error) {
	path := filepath.Join(dir, "tokenizer.json")
	data, err := regfile.ReadFile(path, regfile.TokenizerLimit)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoTokenizerJSON)
	}
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse reads a tokenizer.json held in data; name is used in errors.
func Parse(data []byte, name string) (*File, error) {
	path := name
	var err error
	t := &File{path: path}
	if t.keys, t.raw, err = orderedObject(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.modelKeys, t.model, err = orderedObject(t.raw["model"]); err != nil {
		return nil, fmt.Errorf("%s: model: %w", path, err)
	}
	if raw, ok := t.model["type"]; ok {
		if err := json.Unmarshal(raw, &t.ModelType); err != nil {
			return nil, fmt.Errorf("%s: model.type: %w", path, err)
		}
	}
	if raw := t.raw["added_tokens"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &t.Added); err != nil {
			return nil, fmt.Errorf("%s: added_tokens: %w", path, err)
		}
	}
	vraw := t.model["vocab"]
	switch {
	case t.ModelType == "Unigram" || len(vraw) > 0 && vraw[0] == '[':
		if err := json.Unmarshal(vraw, &t.unigram); err != nil {
			return nil, fmt.Errorf("%s: model.vocab: %w", path, err)
		}
		t.Model = make(map[string]int, len(t.unigram))
		for i, e := range t.unigram {
			var pair []json.RawMessage
			var piece string
			if json.Unmarshal(e, &pair) != nil || len(pair) == 0 || json.Unmarshal(pair[0], &piece) != nil {
				return nil, fmt.Errorf("%s: model.vocab[%d]: want [piece, score]", path, i)
			}
			if _, dup := t.Model[piece]; !dup {
				t.Model[piece] = i
			}
		}
	default:
		if err := json.Unmarshal(vraw, &t.Model); err != nil {
			return nil, fmt.Errorf("%s: model.vocab: %w", path, err)
		}
	}
	if raw := t.model["merges"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &t.merges); err != nil {
			return nil, fmt.Errorf("%s: model.merges: %w", path, err)
		}
	}
	return t, nil
}

// orderedObject splits a JSON object into its keys, in order, and raw
// values.
func orderedObject(data []byte) ([]string, map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, err
	}
	if m == nil {
		return nil, nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, nil, err
		}
	}
	return slices.Compact(keys), m, nil
}

// Raw returns a top-level part of the file as read ("post_processor",
// "normalizer", ...), nil when absent.
func (t *File) Raw(key string) json.RawMessage { return t.raw[key] }

// Vocab is transformers' get_vocab(): the model's tokens and the added
// tokens, token → id.
func (t *File) Vocab() map[string]int {
	v := make(map[string]int, len(t.Model)+len(t.Added))
	for k, id := range t.Model {
		v[k] = id
	}
	for _, a := range t.Added {
		v[a.Content] = a.ID
	}
	return v
}

// AddedByContent maps the contents of added tokens to them.
func (t *File) AddedByContent() map[string]AddedToken {
	m := make(map[string]AddedToken, len(t.Added))
	for _, a := range t.Added {
		m[a.Content] = a
	}
	return m
}

// NextID is the id the next added token gets: one past the largest id in
// use (the tokenizers library's add_tokens).
func (t *File) NextID() int {
	n := 0
	for _, id := range t.Model {
		n = max(n, id+1)
	}
	for _, a := range t.Added {
		n = max(n, a.ID+1)
	}
	return n
}

// AddToken registers tok as an added token unless its content is one
// already: a token of the model's own vocabulary keeps its id.
func (t *File) AddToken(tok AddedToken) {
	for _, a := range t.Added {
		if a.Content == tok.Content {
			return
		}
	}
	if id, ok := t.Model[tok.Content]; ok {
		tok.ID = id
	} else {
		tok.ID = t.NextID()
	}
	t.Added = append(t.Added, tok)
}

// Strip removes every token with an id >= size, and the BPE merges that
// mention one (mergekit's get_stripped_tokenizer). It reports whether
// anything was removed.
func (t *File) Strip(size int) (bool, error) {
	var unused []string
	for tok, id := range t.Vocab() {
		if id >= size {
			unused = append(unused, tok)
		}
	}
	if len(unused) == 0 {
		return false, nil
	}
	if t.ModelType != "BPE" {
		return false, fmt.Errorf("%s: the tokenizer has tokens at ids >= the model's vocabulary size %d, and only BPE tokenizers can be stripped (this is %s)", t.path, size, t.ModelType)
	}
	gone := map[string]bool{}
	for _, tok := range unused {
		gone[tok] = true
		if id, ok := t.Model[tok]; ok && id >= size {
			delete(t.Model, tok)
		}
	}
	t.Added = slices.DeleteFunc(t.Added, func(a AddedToken) bool { return a.ID >= size })
	var kept []json.RawMessage
	for i, m := range t.merges {
		var pair []string
		var s string
		switch {
		case json.Unmarshal(m, &s) == nil && strings.Count(s, " ") == 1:
			pair = strings.Split(s, " ")
		case json.Unmarshal(m, &pair) == nil:
		default:
			return false, fmt.Errorf("%s: model.merges[%d]: unexpected merge format %s", t.path, i, m)
		}
		if !slices.ContainsFunc(pair, func(p string) bool { return gone[p] }) {
			kept = append(kept, m)
		}
	}
	t.merges = kept
	return true, nil
}

// Encode writes the tokenizer back with its vocabulary, merges and added
// tokens as they are now, every other part byte for byte as read.
func (t *File) Encode() ([]byte, error) {
	model := map[string]json.RawMessage{}
	for k, v := range t.model {
		model[k] = v
	}
	if t.unigram == nil {
		type entry struct {
			tok string
			id  int
		}
		entries := make([]entry, 0, len(t.Model))
		for tok, id := range t.Model {
			entries = append(entries, entry{tok, id})
		}
		slices.SortFunc(entries, func(a, b entry) int {
			if a.id != b.id {
				return a.id - b.id
			}
			return strings.Compare(a.tok, b.tok)
		})
		var b bytes.Buffer
		b.WriteByte('{')
		for i, e := range entries {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := MarshalNoEscape(e.tok)
			b.Write(k)
			fmt.Fprintf(&b, ":%d", e.id)
		}
		b.WriteByte('}')
		model["vocab"] = b.Bytes()
	}
	if t.merges != nil {
		m, err := MarshalNoEscape(t.merges)
		if err != nil {
			return nil, err
		}
		model["merges"] = m
	}
	mraw, err := writeOrdered(t.modelKeys, model)
	if err != nil {
		return nil, err
	}
	top := map[string]json.RawMessage{}
	for k, v := range t.raw {
		top[k] = v
	}
	top["model"] = mraw
	slices.SortStableFunc(t.Added, func(a, b AddedToken) int { return a.ID - b.ID })
	added, err := MarshalNoEscape(t.Added)
	if err != nil {
		return nil, err
	}
	top["added_tokens"] = added
	keys := t.keys
	if !slices.Contains(keys, "added_tokens") {
		keys = append(keys, "added_tokens")
	}
	out, err := writeOrdered(keys, top)
	if err != nil {
		return nil, err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "  "); err != nil {
		return nil, err
	}
	pretty.WriteByte('\n')
	return pretty.Bytes(), nil
}

func writeOrdered(keys []string, vals map[string]json.RawMessage) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := MarshalNoEscape(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		v := vals[k]
		if len(v) == 0 {
			v = json.RawMessage("null")
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// MarshalNoEscape is json.Marshal without HTML escaping.
func MarshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
