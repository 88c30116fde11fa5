package merge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// hfTokenizer is a tokenizer.json read at the level a merge needs: its
// vocabulary, added tokens and BPE merges, with every other part kept as
// raw JSON so that a rewritten file differs from the original only where
// the merge changed it.
type hfTokenizer struct {
	path string
	// keys are the top-level keys in file order; raw their values.
	keys []string
	raw  map[string]json.RawMessage
	// modelKeys and model are the "model" object's keys and values.
	modelKeys []string
	model     map[string]json.RawMessage
	modelType string
	// vocab is the model's own vocabulary (BPE, WordPiece and WordLevel
	// store an object; Unigram a list whose index is the id).
	vocab   map[string]int
	unigram []json.RawMessage
	added   []addedToken
	merges  []json.RawMessage
}

// addedToken is an entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// sameSettings reports whether two added tokens are defined alike.
func (a addedToken) sameSettings(b addedToken) bool {
	a.ID, b.ID = 0, 0
	return a == b
}

var errNoTokenizerJSON = errors.New("no tokenizer.json")

// loadHFTokenizer reads dir/tokenizer.json.
func loadHFTokenizer(dir string) (*hfTokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, errNoTokenizerJSON)
	}
	if err != nil {
		return nil, err
	}
	t := &hfTokenizer{path: path}
	if t.keys, t.raw, err = orderedObject(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.modelKeys, t.model, err = orderedObject(t.raw["model"]); err != nil {
		return nil, fmt.Errorf("%s: model: %w", path, err)
	}
	if raw, ok := t.model["type"]; ok {
		if err := json.Unmarshal(raw, &t.modelType); err != nil {
			return nil, fmt.Errorf("%s: model.type: %w", path, err)
		}
	}
	if raw := t.raw["added_tokens"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &t.added); err != nil {
			return nil, fmt.Errorf("%s: added_tokens: %w", path, err)
		}
	}
	vraw := t.model["vocab"]
	switch {
	case t.modelType == "Unigram" || len(vraw) > 0 && vraw[0] == '[':
		if err := json.Unmarshal(vraw, &t.unigram); err != nil {
			return nil, fmt.Errorf("%s: model.vocab: %w", path, err)
		}
		t.vocab = make(map[string]int, len(t.unigram))
		for i, e := range t.unigram {
			var pair []json.RawMessage
			var piece string
			if json.Unmarshal(e, &pair) != nil || len(pair) == 0 || json.Unmarshal(pair[0], &piece) != nil {
				return nil, fmt.Errorf("%s: model.vocab[%d]: want [piece, score]", path, i)
			}
			if _, dup := t.vocab[piece]; !dup {
				t.vocab[piece] = i
			}
		}
	default:
		if err := json.Unmarshal(vraw, &t.vocab); err != nil {
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

// getVocab is transformers' get_vocab(): the model's tokens and the added
// tokens, token → id.
func (t *hfTokenizer) getVocab() map[string]int {
	v := make(map[string]int, len(t.vocab)+len(t.added))
	for k, id := range t.vocab {
		v[k] = id
	}
	for _, a := range t.added {
		v[a.Content] = a.ID
	}
	return v
}

// addedByID maps the ids of added tokens to them.
func (t *hfTokenizer) addedByContent() map[string]addedToken {
	m := make(map[string]addedToken, len(t.added))
	for _, a := range t.added {
		m[a.Content] = a
	}
	return m
}

// nextID is the id the next added token gets: one past the largest id in
// use (the tokenizers library's add_tokens).
func (t *hfTokenizer) nextID() int {
	n := 0
	for _, id := range t.vocab {
		n = max(n, id+1)
	}
	for _, a := range t.added {
		n = max(n, a.ID+1)
	}
	return n
}

// addToken registers tok as an added token unless its content is one
// already: a token of the model's own vocabulary keeps its id.
func (t *hfTokenizer) addToken(tok addedToken) {
	for _, a := range t.added {
		if a.Content == tok.Content {
			return
		}
	}
	if id, ok := t.vocab[tok.Content]; ok {
		tok.ID = id
	} else {
		tok.ID = t.nextID()
	}
	t.added = append(t.added, tok)
}

// strip removes every token with an id >= size, and the BPE merges that
// mention one (mergekit's get_stripped_tokenizer). It reports whether
// anything was removed.
func (t *hfTokenizer) strip(size int) (bool, error) {
	var unused []string
	for tok, id := range t.getVocab() {
		if id >= size {
			unused = append(unused, tok)
		}
	}
	if len(unused) == 0 {
		return false, nil
	}
	if t.modelType != "BPE" {
		return false, fmt.Errorf("%s: the tokenizer has tokens at ids >= the model's vocabulary size %d, and only BPE tokenizers can be stripped (this is %s)", t.path, size, t.modelType)
	}
	gone := map[string]bool{}
	for _, tok := range unused {
		gone[tok] = true
		if id, ok := t.vocab[tok]; ok && id >= size {
			delete(t.vocab, tok)
		}
	}
	t.added = slices.DeleteFunc(t.added, func(a addedToken) bool { return a.ID >= size })
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

// encode writes the tokenizer back with its vocabulary, merges and added
// tokens as they are now, every other part byte for byte as read.
func (t *hfTokenizer) encode() ([]byte, error) {
	model := map[string]json.RawMessage{}
	for k, v := range t.model {
		model[k] = v
	}
	if t.unigram == nil {
		type entry struct {
			tok string
			id  int
		}
		entries := make([]entry, 0, len(t.vocab))
		for tok, id := range t.vocab {
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
			k, _ := marshalNoEscape(e.tok)
			b.Write(k)
			fmt.Fprintf(&b, ":%d", e.id)
		}
		b.WriteByte('}')
		model["vocab"] = b.Bytes()
	}
	if t.merges != nil {
		m, err := marshalNoEscape(t.merges)
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
	slices.SortStableFunc(t.added, func(a, b addedToken) int { return a.ID - b.ID })
	added, err := marshalNoEscape(t.added)
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
		kb, err := marshalNoEscape(k)
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

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// configVocabSize is a model's vocabulary size from its config.json (the
// architecture's key, else vocab_size), or -1.
func configVocabSize(m *SourceModel) int {
	key := "vocab_size"
	if m.Arch != nil && m.Arch.VocabSizeKey != "" {
		key = m.Arch.VocabSizeKey
	}
	v, ok := configValue(m.Config, key)
	if !ok {
		return -1
	}
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return -1
		}
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	}
	return -1
}

// configValue reads a dotted key path.
func configValue(cfg map[string]any, key string) (any, bool) {
	parts := strings.Split(key, ".")
	var cur any = cfg
	for _, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}
