package merge

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

// builtTokenizer is the output vocabulary of a merge with tokenizer_source
// or a tokenizer: block (mergekit's tokenizer/build.py), and how each
// model's embedding rows map onto it.
type builtTokenizer struct {
	// size is the vocabulary size V; padded is V rounded up to
	// pad_to_multiple_of, the embedding row count.
	size, padded int
	// tokens lists the output tokens by id.
	tokens []string
	// perm maps each referenced model to, per output id, its own row or -1.
	perm map[*SourceModel][]int
	// vocab is each model's own token → id map (for model_token sources).
	vocab map[*SourceModel]map[string]int
	// ids maps output tokens to their ids.
	ids map[string]int
	// configs are the tokenizer: block's token entries by token.
	configs map[string]TokenConfig
	// base is the tokenizer base model: base_model, else the first model.
	base *SourceModel
	// approx and k are the tokenizer: block's approximate and k.
	approx string
	k      int
	// files are the output tokenizer files; copyFrom, when set, is a
	// directory whose tokenizer files are copied verbatim instead.
	files    map[string][]byte
	copyFrom string
}

// buildTokenizer builds the output vocabulary when the config asks for one.
func (p *planner) buildTokenizer() error {
	cfg := p.cfg
	var source ModelRefOrKeyword
	var tokens []TokenConfig
	pad := 0
	switch {
	case cfg.Tokenizer != nil:
		source, tokens, pad = cfg.Tokenizer.Source, cfg.Tokenizer.Tokens, cfg.Tokenizer.PadToMultipleOf
	case cfg.TokenizerSource != nil:
		source = *cfg.TokenizerSource
	default:
		return nil
	}
	bt := &builtTokenizer{perm: map[*SourceModel][]int{}, vocab: map[*SourceModel]map[string]int{}, configs: map[string]TokenConfig{}}
	bt.base = p.plan.Donor
	if cfg.Tokenizer != nil {
		bt.approx, bt.k = cfg.Tokenizer.Approximate, cfg.Tokenizer.K
		if bt.k == 0 {
			bt.k = 32
		}
	}
	for _, t := range tokens {
		bt.configs[t.Token] = t
	}

	// The stripped base: tokens at ids >= the config's vocabulary size go.
	baseTok, err := tokfile.Load(bt.base.Dir)
	if err != nil {
		return p.errorf(source.Pos, "tokenizer of base model %s: %v (a tokenizer.json is needed to build a vocabulary)", bt.base.Ref.String(), err)
	}
	baseSize := configVocabSize(bt.base)
	if baseSize < 0 {
		baseSize = len(baseTok.Vocab())
	}
	stripped, err := baseTok.Strip(baseSize)
	if err != nil {
		return p.errorf(source.Pos, "%v", err)
	}
	toks := map[*SourceModel]*tokfile.File{bt.base: baseTok}
	for _, m := range p.plan.Models {
		if m == bt.base {
			continue
		}
		t, err := tokfile.Load(m.Dir)
		if errors.Is(err, tokfile.ErrNoTokenizerJSON) {
			p.warnf("%s has no tokenizer.json; assuming its tokenizer is the base model's", m.Ref.String())
			continue
		}
		if err != nil {
			// A tokenizer that is there but broken (ids that fail
			// tokfile.CheckIDs, a truncated or huge file) is refused,
			// not replaced by the base's: its rows would be mismatched.
			return p.errorf(source.Pos, "tokenizer of model %s: %v", m.Ref.String(), err)
		}
		toks[m] = t
	}

	var out *tokfile.File
	outDir := bt.base.Dir
	changed := stripped
	switch {
	case source.Model != nil:
		dir, err := p.res.resolveModelDir(*source.Model)
		if err != nil {
			return p.errorf(source.Pos, "tokenizer source: %v%s", err, p.sourceHint(*source.Model))
		}
		if out, err = tokfile.Load(dir); err != nil {
			return p.errorf(source.Pos, "tokenizer source %s: %v", source.Model.String(), err)
		}
		outDir, changed = dir, false
	case source.Keyword == "base":
		out = baseTok
	case source.Keyword == "union":
		out, err = p.unionTokenizer(baseTok, toks)
		if err != nil {
			return err
		}
		changed = true
	default:
		return p.errorf(source.Pos, "unknown tokenizer source %q", source.Keyword)
	}
	vocabOut := out.Vocab()
	for _, t := range tokens {
		if _, ok := vocabOut[t.Token]; !ok {
			out.AddToken(tokfile.AddedToken{Content: t.Token, Normalized: true})
			changed = true
		}
	}
	if changed {
		vocabOut = out.Vocab()
	}
	bt.size, bt.ids = len(vocabOut), vocabOut
	bt.tokens = make([]string, bt.size)
	for tok, id := range vocabOut {
		if id < 0 || id >= bt.size || bt.tokens[id] != "" {
			return p.errorf(source.Pos, "the output vocabulary's ids are not 0..%d (token %q has id %d)", bt.size-1, tok, id)
		}
		bt.tokens[id] = tok
	}
	bt.padded = bt.size
	if pad > 0 && bt.size%pad != 0 {
		bt.padded = (bt.size/pad + 1) * pad
	}

	for _, m := range p.plan.Models {
		mt := toks[m]
		if mt == nil {
			mt = baseTok
		}
		mv := mt.Vocab()
		bt.vocab[m] = mv
		size := configVocabSize(m)
		if size < 0 {
			size = len(mv)
		}
		perm := make([]int, bt.size)
		for id, tok := range bt.tokens {
			orig, ok := mv[tok]
			switch {
			case !ok:
				perm[id] = -1
			case orig >= size:
				p.warnf("%s: token %q has id %d, beyond its vocabulary size %d (padding?)", m.Ref.String(), tok, orig, size)
				perm[id] = -1
			default:
				perm[id] = orig
			}
		}
		bt.perm[m] = perm
	}
	for _, t := range tokens {
		if err := p.checkTokenSource(bt, t); err != nil {
			return err
		}
	}

	if changed {
		data, err := out.Encode()
		if err != nil {
			return fmt.Errorf("write tokenizer.json: %w", err)
		}
		bt.files = map[string][]byte{"tokenizer.json": data}
		if err := bt.tokenizerConfig(outDir, out); err != nil {
			return err
		}
	} else {
		bt.copyFrom = outDir
	}
	p.plan.tokenizer = bt
	return nil
}

// unionTokenizer is mergekit's build_union_tokenizer: the stripped base
// plus every other model's ordinary tokens (first seen first), then every
// added token (the first definition wins).
func (p *planner) unionTokenizer(base *tokfile.File, toks map[*SourceModel]*tokfile.File) (*tokfile.File, error) {
	order := []*SourceModel{p.plan.Donor}
	for _, m := range p.plan.Models {
		if m != p.plan.Donor && toks[m] != nil {
			order = append(order, m)
		}
	}
	var ordinary []string
	seen := map[string]bool{}
	var added []tokfile.AddedToken
	addedSeen := map[string]tokfile.AddedToken{}
	warned := map[string]bool{}
	for _, m := range order {
		t := toks[m]
		size := configVocabSize(m)
		if size < 0 {
			size = len(t.Model)
		}
		isAdded := t.AddedByContent()
		// Ordinary tokens in id order, so "first seen" is deterministic.
		byID := make([]string, 0, len(t.Model))
		ids := map[string]int{}
		for tok, id := range t.Vocab() {
			byID = append(byID, tok)
			ids[tok] = id
		}
		sortByID(byID, ids)
		for _, tok := range byID {
			if ids[tok] >= size {
				continue
			}
			if _, a := isAdded[tok]; a {
				continue
			}
			if !seen[tok] {
				seen[tok] = true
				ordinary = append(ordinary, tok)
			}
		}
		for _, a := range t.Added {
			if a.ID >= size {
				continue
			}
			if prev, ok := addedSeen[a.Content]; ok {
				if !prev.SameSettings(a) && !warned[a.Content] {
					warned[a.Content] = true
					p.warnf("token %q is added with different settings by different models; using the first", a.Content)
				}
				continue
			}
			addedSeen[a.Content] = a
			added = append(added, a)
		}
	}
	// Work on a copy: the base's own vocabulary still maps its rows.
	out, err := tokfile.Load(p.plan.Donor.Dir)
	if err != nil {
		return nil, err
	}
	size := configVocabSize(p.plan.Donor)
	if size < 0 {
		size = len(out.Vocab())
	}
	if _, err := out.Strip(size); err != nil {
		return nil, err
	}
	baseVocab := base.Vocab()
	for _, tok := range ordinary {
		if _, a := addedSeen[tok]; a {
			continue
		}
		if _, ok := baseVocab[tok]; !ok {
			out.AddToken(tokfile.AddedToken{Content: tok, Normalized: true})
		}
	}
	for _, a := range added {
		out.AddToken(a)
	}
	return out, nil
}

func sortByID(toks []string, ids map[string]int) {
	slices.SortFunc(toks, func(a, b string) int { return ids[a] - ids[b] })
}

// checkTokenSource checks an explicit token source against the vocabularies.
func (p *planner) checkTokenSource(bt *builtTokenizer, t TokenConfig) error {
	src := t.Source
	if src.Model == nil {
		return nil
	}
	m := p.byKey[src.Model.Key()]
	if m == nil {
		return p.errorf(t.Pos, "token %q: model %s is not part of the merge", t.Token, src.Model.String())
	}
	switch src.Kind {
	case "model":
		id := bt.index(t.Token)
		if id < 0 || bt.perm[m][id] < 0 {
			return p.errorf(t.Pos, "token %q not found in model %s", t.Token, src.Model.String())
		}
	case "model_token":
		if src.TokenID == nil {
			if _, ok := bt.vocab[m][src.Token]; !ok {
				return p.errorf(t.Pos, "token %q not found in model %s", src.Token, src.Model.String())
			}
		}
	}
	return nil
}

// index is a token's output id, or -1.
func (bt *builtTokenizer) index(tok string) int {
	if id, ok := bt.ids[tok]; ok {
		return id
	}
	return -1
}

// tokenizerConfig writes tokenizer_config.json (the source's, with
// added_tokens_decoder describing the output's added tokens, as
// transformers' save_pretrained does) and copies special_tokens_map.json.
func (bt *builtTokenizer) tokenizerConfig(dir string, out *tokfile.File) error {
	raw, err := tokfile.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	cfg := map[string]any{}
	switch {
	case err == nil:
		// A special token transformers refuses to load (a number, a
		// list) or a chat template that fails tokfile.CheckTemplate
		// must not reach the output.
		if err := tokfile.CheckConfig(raw); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer_config.json"), err)
		}
		if cfg, err = decodeJSONObject(raw); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer_config.json"), err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	dec := map[string]any{}
	for _, a := range out.Added {
		dec[strconv.Itoa(a.ID)] = map[string]any{
			"content": a.Content, "lstrip": a.LStrip, "normalized": a.Normalized,
			"rstrip": a.RStrip, "single_word": a.SingleWord, "special": a.Special,
		}
	}
	cfg["added_tokens_decoder"] = dec
	if _, ok := cfg["tokenizer_class"]; !ok {
		cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
	}
	data, err := marshalJSON(cfg)
	if err != nil {
		return err
	}
	bt.files["tokenizer_config.json"] = data
	if raw, err := tokfile.ReadFile(filepath.Join(dir, "special_tokens_map.json")); err == nil {
		if err := tokfile.CheckConfig(raw); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, "special_tokens_map.json"), err)
		}
		bt.files["special_tokens_map.json"] = raw
	}
	if raw, err := tokfile.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
		if err := tokfile.CheckTemplate(string(raw)); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, "chat_template.jinja"), err)
		}
		bt.files["chat_template.jinja"] = raw
	}
	return nil
}

// sourceHint suggests the config's model that a tokenizer source which
// could not be found probably means: mergekit wants the model's reference
// as written under models:, and "ftA" for "./models/ftA" is a common slip.
func (p *planner) sourceHint(ref ModelRef) string {
	name := strings.TrimSuffix(ref.String(), "/")
	for _, m := range p.refs() {
		full := strings.TrimSuffix(m.String(), "/")
		if full != name && (path.Base(full) == name || strings.EqualFold(path.Base(full), path.Base(name))) {
			return fmt.Sprintf("; did you mean %q, a model of this config?", m.String())
		}
	}
	return ""
}

// checkTokenizerSource finds a tokenizer source model that cannot be
// found, for a plan that stopped before building the tokenizer.
func (p *planner) checkTokenizerSource() error {
	var src *ModelRefOrKeyword
	switch {
	case p.cfg.Tokenizer != nil:
		src = &p.cfg.Tokenizer.Source
	case p.cfg.TokenizerSource != nil:
		src = p.cfg.TokenizerSource
	}
	if src == nil || src.Model == nil || p.byKey[src.Model.Key()] != nil {
		return nil
	}
	if _, err := p.res.resolveModelDir(*src.Model); err != nil {
		return p.errorf(src.Pos, "tokenizer source: %v%s", err, p.sourceHint(*src.Model))
	}
	return nil
}
