package tokfile

import (
	"github.com/gomerge/gomerge/internal/regfile"

	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// The bounds every reader of tokenizer files enforces before it allocates
// anything sized by the file's contents.
const (
	// MaxFileSize is the largest tokenizer file read (512 MiB; the largest
	// real tokenizer.json files are tens of MiB).
	MaxFileSize = 512 << 20
	// MaxVocab bounds token ids: every id is below it. The largest real
	// vocabularies have about 2^18 tokens.
	MaxVocab = 1 << 24
	// idSlack is how far the largest id may lie beyond twice the number of
	// tokens. Real files have small gaps (reserved or added tokens after
	// the vocabulary); an id far beyond the count is a lie that would
	// size a table.
	idSlack = 1024
)

var (
	// ErrTooLarge is wrapped by the errors about a file over MaxFileSize.
	ErrTooLarge = errors.New("file too large")
	// ErrEmptyVocab is wrapped by the error about a tokenizer whose model
	// has no tokens.
	ErrEmptyVocab = errors.New("the model's vocabulary is empty")
)

// ReadFile reads a tokenizer file (tokenizer.json, tokenizer.model or a
// side file), refusing one over MaxFileSize before reading it.
func ReadFile(path string) ([]byte, error) {
	// A FIFO or device in the file's place is refused, not waited on.
	f, err := regfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, st.Size(), MaxFileSize)
	}
	return ReadAllLimited(f, path)
}

// ReadAllLimited reads r to the end, refusing more than MaxFileSize bytes
// (for decompressed or non-regular files, whose size is not known first);
// name is used in errors.
func ReadAllLimited(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w: over %d bytes", name, ErrTooLarge, MaxFileSize)
	}
	return data, nil
}

// IDProblem says what is wrong with a token id.
type IDProblem int

// The id problems CheckIDs and the decoders report.
const (
	// IDNotInteger: the id is not a JSON integer (3.5, "7", 1e9).
	IDNotInteger IDProblem = iota + 1
	// IDNegative: the id is below 0.
	IDNegative
	// IDTooLarge: the id is MaxVocab or more, or far beyond the number of
	// tokens in the file.
	IDTooLarge
	// IDShared: two different tokens have the id.
	IDShared
	// IDTwice: the token has another id elsewhere in the file (the model
	// vocabulary and added_tokens disagree, or added_tokens lists it
	// twice).
	IDTwice
)

// IDError is a token id a tokenizer file may not hold.
type IDError struct {
	// Where is the part of the file: "model.vocab" or "added_tokens[i]".
	Where string
	// Token is the token and ID its id as written.
	Token, ID string
	Problem   IDProblem
	// Other is, for IDShared, the other token; for IDTwice, the other id
	// and where it is given.
	Other string
	// Limit is, for IDTooLarge, the bound the id broke.
	Limit int
}

// Error says where, which token, which id and what is wrong with it.
func (e *IDError) Error() string {
	head := fmt.Sprintf("%s: token %q", e.Where, e.Token)
	switch e.Problem {
	case IDNotInteger:
		return fmt.Sprintf("%s: id %s is not an integer", head, abbrev([]byte(e.ID)))
	case IDNegative:
		return fmt.Sprintf("%s: id %s is negative", head, e.ID)
	case IDTooLarge:
		if e.Limit == MaxVocab {
			return fmt.Sprintf("%s: id %s is out of range (token ids are below %d)", head, e.ID, MaxVocab)
		}
		return fmt.Sprintf("%s: id %s is out of range (the ids of a vocabulary this size are below %d: twice its tokens plus %d)", head, e.ID, e.Limit, idSlack)
	case IDShared:
		return fmt.Sprintf("%s: id %s is also the id of token %q", head, e.ID, e.Other)
	case IDTwice:
		return fmt.Sprintf("%s: id %s, but %s", head, e.ID, e.Other)
	}
	return fmt.Sprintf("%s: bad id %s", head, e.ID)
}

// jsonID is a token id as tokenizer.json must write it: a JSON integer
// (not null, which encoding/json would read as 0 into an int, nor 3.5,
// "7" or 1e9).
type jsonID int

var errNotInteger = errors.New("not a JSON integer")

func (id *jsonID) UnmarshalJSON(b []byte) error {
	n, ok := integer(b)
	if !ok {
		return errNotInteger
	}
	*id = jsonID(n)
	return nil
}

// integer reads a JSON integer literal that fits an int.
func integer(raw []byte) (int, bool) {
	s := string(raw)
	if strings.ContainsAny(s, ".eE\"+ ") || s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// idError is the IDError for an id that integer refuses.
func idError(where, tok string, raw []byte) *IDError {
	s := strings.TrimPrefix(string(raw), "-")
	if s != "" && strings.Trim(s, "0123456789") == "" {
		// An integer too large for an int.
		return &IDError{Where: where, Token: tok, ID: string(raw), Problem: IDTooLarge, Limit: MaxVocab}
	}
	if len(raw) == 0 {
		raw = []byte("(missing)")
	}
	return &IDError{Where: where, Token: tok, ID: string(raw), Problem: IDNotInteger}
}

// DecodeVocab decodes a model vocabulary written as a JSON object, token →
// id (BPE, WordPiece, WordLevel). An id that is not a JSON integer (null
// included) is reported as an IDError naming its token. The ids are not
// checked otherwise; see CheckIDs.
func DecodeVocab(raw json.RawMessage) (map[string]int, error) {
	var ids map[string]jsonID
	err := json.Unmarshal(raw, &ids)
	if err == nil {
		v := make(map[string]int, len(ids))
		for tok, id := range ids {
			v[tok] = int(id)
		}
		return v, nil
	}
	// Find the token to name: the error above does not say.
	var entries map[string]json.RawMessage
	if json.Unmarshal(raw, &entries) != nil {
		return nil, err
	}
	toks := make([]string, 0, len(entries))
	for tok := range entries {
		toks = append(toks, tok)
	}
	slices.Sort(toks)
	for _, tok := range toks {
		if _, ok := integer(entries[tok]); !ok {
			return nil, idError("model.vocab", tok, entries[tok])
		}
	}
	return nil, err
}

// addedJSON is an added_tokens entry as read: the id must be there.
type addedJSON struct {
	ID         *jsonID `json:"id"`
	Content    string  `json:"content"`
	SingleWord bool    `json:"single_word"`
	LStrip     bool    `json:"lstrip"`
	RStrip     bool    `json:"rstrip"`
	Normalized bool    `json:"normalized"`
	Special    bool    `json:"special"`
}

// DecodeAdded decodes tokenizer.json's added_tokens (null or absent: none).
// An entry without an id, or whose id is not a JSON integer, is reported
// as an IDError naming the token.
func DecodeAdded(raw json.RawMessage) ([]AddedToken, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("added_tokens: %w", err)
	}
	added := make([]AddedToken, len(entries))
	for i, e := range entries {
		var a addedJSON
		if err := json.Unmarshal(e, &a); err == nil && a.ID != nil {
			added[i] = AddedToken{ID: int(*a.ID), Content: a.Content, SingleWord: a.SingleWord, LStrip: a.LStrip,
				RStrip: a.RStrip, Normalized: a.Normalized, Special: a.Special}
			continue
		}
		// Say why: an id missing, null or not an integer, else the error.
		var fields struct {
			ID      json.RawMessage `json:"id"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(e, &fields); err != nil {
			return nil, fmt.Errorf("added_tokens[%d]: %w", i, err)
		}
		var content string
		if err := json.Unmarshal(fields.Content, &content); err != nil {
			return nil, fmt.Errorf("added_tokens[%d]: content %s is not a string", i, abbrev(fields.Content))
		}
		if _, ok := integer(fields.ID); !ok {
			return nil, idError(fmt.Sprintf("added_tokens[%d]", i), content, fields.ID)
		}
		var a2 AddedToken
		err := json.Unmarshal(e, &a2)
		if err == nil {
			err = errors.New("malformed entry")
		}
		return nil, fmt.Errorf("added_tokens[%d] %q: %w", i, content, err)
	}
	return added, nil
}

// CheckIDs checks the ids of a tokenizer: model is its model's vocabulary
// (token → id), added its added tokens. It is the one check every reader
// of tokenizer files applies before sizing anything by an id: the rules of
// CheckBounds, and
//
//   - an added token has one id: the model's when the model has it, and
//     the same in every added_tokens entry;
//   - an added token's id is not another token's;
//   - an added token's id is below twice the number of distinct ids plus
//     1024, so that gaps such as Llama-3's reserved tokens or Qwen's added
//     tokens after the vocabulary pass but an id far beyond the file's
//     size does not.
//
// An added token repeating a model token with the same id is legal (real
// files list their special tokens both ways). The error is an *IDError for
// an id, or wraps ErrEmptyVocab for an empty model.
func CheckIDs(model map[string]int, added []AddedToken) error {
	if err := CheckBounds(model, added); err != nil {
		return err
	}
	byID := make(map[int]string, len(model)+len(added))
	for tok, id := range model {
		byID[id] = tok
	}
	addedAt := map[string]int{} // content -> index in added
	for i, a := range added {
		where := fmt.Sprintf("added_tokens[%d]", i)
		id := strconv.Itoa(a.ID)
		if mid, ok := model[a.Content]; ok && mid != a.ID {
			return &IDError{Where: where, Token: a.Content, ID: id, Problem: IDTwice, Other: fmt.Sprintf("model.vocab gives it id %d", mid)}
		}
		if k, ok := addedAt[a.Content]; ok && added[k].ID != a.ID {
			return &IDError{Where: where, Token: a.Content, ID: id, Problem: IDTwice, Other: fmt.Sprintf("added_tokens[%d] gives it id %d", k, added[k].ID)}
		}
		addedAt[a.Content] = i
		if other, ok := byID[a.ID]; ok && other != a.Content {
			return &IDError{Where: where, Token: a.Content, ID: id, Problem: IDShared, Other: other}
		}
		byID[a.ID] = a.Content
	}
	limit := 2*len(byID) + idSlack
	for i, a := range added {
		if a.ID >= limit {
			return &IDError{Where: fmt.Sprintf("added_tokens[%d]", i), Token: a.Content, ID: strconv.Itoa(a.ID), Problem: IDTooLarge, Limit: limit}
		}
	}
	return nil
}

// CheckBounds applies the rules of CheckIDs that bound what an id can make
// a reader allocate:
//
//   - the model has at least one token;
//   - every id, the model's and the added tokens', is at least 0 and below
//     MaxVocab;
//   - the model's ids are below twice its number of tokens plus 1024 (a
//     table indexed by them is at most about twice the file's entries);
//   - no two tokens of the model share an id.
//
// Readers that give added tokens the ids the Rust tokenizers crate gives
// them on load, ignoring the file's (package tokenizer), need only these;
// readers that use the file's ids need CheckIDs.
func CheckBounds(model map[string]int, added []AddedToken) error {
	if len(model) == 0 {
		return ErrEmptyVocab
	}
	// In id order, so that the first problem reported does not depend
	// on map order.
	type entry struct {
		id  int
		tok string
	}
	es := make([]entry, 0, len(model))
	for tok, id := range model {
		es = append(es, entry{id, tok})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		return strings.Compare(a.tok, b.tok)
	})
	for i, e := range es {
		if err := idRange("model.vocab", e.tok, e.id); err != nil {
			return err
		}
		if i > 0 && es[i-1].id == e.id {
			return &IDError{Where: "model.vocab", Token: e.tok, ID: strconv.Itoa(e.id), Problem: IDShared, Other: es[i-1].tok}
		}
	}
	if last := es[len(es)-1]; last.id >= 2*len(model)+idSlack {
		return &IDError{Where: "model.vocab", Token: last.tok, ID: strconv.Itoa(last.id), Problem: IDTooLarge, Limit: 2*len(model) + idSlack}
	}
	for i, a := range added {
		if err := idRange(fmt.Sprintf("added_tokens[%d]", i), a.Content, a.ID); err != nil {
			return err
		}
	}
	return nil
}

func idRange(where, tok string, id int) error {
	switch {
	case id < 0:
		return &IDError{Where: where, Token: tok, ID: strconv.Itoa(id), Problem: IDNegative}
	case id >= MaxVocab:
		return &IDError{Where: where, Token: tok, ID: strconv.Itoa(id), Problem: IDTooLarge, Limit: MaxVocab}
	}
	return nil
}
