package merge

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomerge/gomerge/tokenizer"
	"github.com/gomerge/gomerge/tokensurgeon"
)

// TokenizerOutcome is what a merge will write of the tokenizer and its
// special tokens, known before any weight is read.
type TokenizerOutcome struct {
	// Source says where the tokenizer comes from: "none", "model X"
	// (copied) or "built" (tokenizer_source or a tokenizer block).
	Source string `json:"source"`
	// Tokens is the tokenizer's size; EmbeddingRows the output
	// embedding's rows (-1 when the architecture has none).
	Tokens        int   `json:"tokens"`
	EmbeddingRows int64 `json:"embedding_rows"`
	// ChatTemplate names the template ("chatml", "from the tokenizer",
	// "none").
	ChatTemplate string `json:"chat_template"`
	// BOS, EOS and PAD are the ids generation will use (config.json and
	// generation_config.json after the special-token alignment); nil
	// when unset.
	BOS *int  `json:"bos_token_id,omitempty"`
	EOS []int `json:"eos_token_id,omitempty"`
	PAD *int  `json:"pad_token_id,omitempty"`
	// Changes are the special-token changes the merge will make, and
	// what it cannot fix.
	Changes []string `json:"changes,omitempty"`
}

// Tokenizer tells what the merge will write of the tokenizer with these
// options: the side files are written into a scratch directory, aligned
// as Execute aligns them, and read back. No weight is read.
func (p *Plan) Tokenizer(opt Options) (*TokenizerOutcome, error) {
	out := &TokenizerOutcome{Source: "none", EmbeddingRows: -1, ChatTemplate: "none"}
	for _, t := range p.Tasks {
		if t.IsEmbed && len(t.Shape) == 2 && strings.Contains(t.Name, "embed") {
			out.EmbeddingRows = t.Shape[0]
			break
		}
	}
	switch {
	case p.tokenizer != nil:
		out.Source = "built"
	case !opt.SkipTokenizer && p.Donor != nil:
		out.Source = "model " + p.Donor.Ref.String()
	}
	scratch, err := os.MkdirTemp("", "gomerge-plan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	o, err := newOutputDir(filepath.Join(scratch, "out"), "gomerge plan", nil, nil, false, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer o.abort()
	opt.SkipModelCard = true
	changes, err := writeSideFiles(p, o, opt, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, fmt.Errorf("tokenizer outcome: %w", err)
	}
	out.Changes = changes
	m, err := tokensurgeon.LoadModelFiles(o.tmp)
	if err != nil {
		return nil, fmt.Errorf("tokenizer outcome: %w", err)
	}
	out.Tokens = len(m.Vocab)
	if m.Tokenizer == nil && exists(filepath.Join(o.tmp, "tokenizer.model")) {
		// A SentencePiece model alone: its vocabulary is in the protobuf.
		if t, err := tokenizer.Load(o.tmp); err == nil {
			out.Tokens = t.VocabSize()
		}
	}
	if m.Tokenizer == nil && !exists(filepath.Join(o.tmp, "tokenizer.model")) && out.Source != "none" {
		out.Source = "none (" + strings.TrimPrefix(out.Source, "model ") + " has no tokenizer files)"
	}
	switch {
	case p.Config.ChatTemplate != "":
		out.ChatTemplate = p.Config.ChatTemplate
	case m.ChatTemplate != "":
		out.ChatTemplate = "from the tokenizer"
	}
	ids := m.Generation
	if ids == nil {
		ids = m.Config
	}
	out.BOS, out.PAD = intID(ids["bos_token_id"]), intID(ids["pad_token_id"])
	switch v := ids["eos_token_id"].(type) {
	case []any:
		for _, x := range v {
			if id := intID(x); id != nil {
				out.EOS = append(out.EOS, *id)
			}
		}
	default:
		if id := intID(v); id != nil {
			out.EOS = []int{*id}
		}
	}
	return out, nil
}

// intID reads a JSON number as an id.
func intID(v any) *int {
	var id int
	switch x := v.(type) {
	case float64:
		id = int(x)
	case int:
		id = x
	case interface{ Int64() (int64, error) }:
		n, err := x.Int64()
		if err != nil {
			return nil
		}
		id = int(n)
	default:
		return nil
	}
	return &id
}
