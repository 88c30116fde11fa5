package eval

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/gomerge/gomerge/tokenizer"
)

// Tokenizer turns text into token ids. Encode adds no special tokens;
// Options.AddBOS says whether a BOS is put in front, as a tokenizer with
// add_bos_token does in lm-eval.
type Tokenizer interface {
	Encode(text string) ([]int, error)
	// BOS returns the beginning-of-sequence id, if the model has one.
	BOS() (int, bool)
	// EOS returns the end-of-sequence id, if the model has one.
	EOS() (int, bool)
}

// FromTokenizer adapts a Hugging Face tokenizer (tokenizer.json or
// tokenizer.model, loaded by package tokenizer) to eval's Tokenizer: Encode
// adds no special tokens, and BOS and EOS are the tokenizer's own
// (tokenizer_config.json, else special_tokens_map.json), as lm-eval's
// Hugging Face model reads them. It also decodes (Decoder), which
// generate_until tasks need.
func FromTokenizer(t *tokenizer.Tokenizer) Tokenizer { return hfTokenizer{t} }

type hfTokenizer struct{ t *tokenizer.Tokenizer }

func (h hfTokenizer) Encode(text string) ([]int, error) { return h.t.Encode(text, false), nil }

// Decode implements Decoder: special tokens are skipped, as the harness
// decodes generations.
func (h hfTokenizer) Decode(ids []int) string { return h.t.Decode(ids, true) }

func (h hfTokenizer) BOS() (int, bool) {
	r := h.t.Special().BOS
	return r.ID, r.Found
}

func (h hfTokenizer) EOS() (int, bool) {
	r := h.t.Special().EOS
	return r.ID, r.Found
}

// prefixToken is lm-eval's prefix_token_id: a custom one, else BOS, else
// EOS.
func prefixToken(tok Tokenizer, opt *Options) (int, error) {
	if opt.PrefixToken != nil {
		return *opt.PrefixToken, nil
	}
	if tok != nil {
		if id, ok := tok.BOS(); ok {
			return id, nil
		}
		if id, ok := tok.EOS(); ok {
			return id, nil
		}
	}
	return 0, fmt.Errorf("eval: no prefix token: the tokenizer has neither BOS nor EOS; set Options.PrefixToken")
}

// encoder wraps a Tokenizer with lm-eval's tok_encode behaviour.
type encoder struct {
	tok    Tokenizer
	addBOS bool
	bos    int
	// The choices of a document share its context: encode it once.
	lastCtx string
	lastIDs []int
}

func newEncoder(tok Tokenizer, addBOS bool) (*encoder, error) {
	e := &encoder{tok: tok, addBOS: addBOS}
	if addBOS {
		id, ok := tok.BOS()
		if !ok {
			return nil, fmt.Errorf("eval: AddBOS set but the tokenizer has no BOS token")
		}
		e.bos = id
	}
	return e, nil
}

// encode is tok_encode(s) with the tokenizer's default special tokens.
func (e *encoder) encode(s string) ([]int, error) {
	ids, err := e.tok.Encode(s)
	if err != nil {
		return nil, err
	}
	if e.addBOS {
		ids = append([]int{e.bos}, ids...)
	}
	return ids, nil
}

func (e *encoder) encodeContext(s string) ([]int, error) {
	if e.lastIDs != nil && s == e.lastCtx {
		return e.lastIDs, nil
	}
	ids, err := e.encode(s)
	if err != nil {
		return nil, err
	}
	e.lastCtx, e.lastIDs = s, ids
	return ids, nil
}

// encodePair is lm-eval's loglikelihood tokenisation of (context,
// continuation): an empty context becomes the prefix token (or the
// continuation's first token when that already is the prefix token);
// otherwise trailing whitespace of the context moves to the continuation,
// and the continuation's tokens are what follows enc(context) inside
// enc(context+continuation).
func (e *encoder) encodePair(context, continuation string, prefix int) (Request, error) {
	if context == "" {
		cont, err := e.tok.Encode(continuation) // add_special_tokens=False
		if err != nil {
			return Request{}, err
		}
		if len(cont) == 0 {
			return Request{}, fmt.Errorf("continuation %q encodes to no tokens", continuation)
		}
		if cont[0] != prefix {
			return Request{Context: []int{prefix}, Continuation: cont}, nil
		}
		return Request{Context: cont[:1], Continuation: cont[1:]}, nil
	}
	trimmed := strings.TrimRightFunc(context, pyIsSpace)
	continuation = context[len(trimmed):] + continuation
	context = trimmed
	whole, err := e.encode(context + continuation)
	if err != nil {
		return Request{}, err
	}
	ctx, err := e.encodeContext(context)
	if err != nil {
		return Request{}, err
	}
	if len(ctx) >= len(whole) {
		return Request{}, fmt.Errorf("continuation %q adds no tokens to its context", continuation)
	}
	return Request{Context: ctx, Continuation: whole[len(ctx):]}, nil
}

// pyIsSpace is Python's str.isspace for one code point, which is what
// re's \s and str.rstrip() use on str: Go's unicode.IsSpace plus the
// information separators U+001C–U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// countWords is lm-eval's count_words: len(re.split(r"\s+", doc)), so
// leading and trailing whitespace each add an empty "word" and "" counts
// as one.
func countWords(doc string) int {
	n := 1
	inSpace := false
	for _, r := range doc {
		sp := pyIsSpace(r)
		if sp && !inSpace {
			n++
		}
		inSpace = sp
	}
	return n
}
