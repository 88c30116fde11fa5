package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

// Config is the token configuration of a model directory, one field per
// side file; a nil field means the file is absent.
type Config struct {
	Tokenizer        *TokenizerConfig // tokenizer_config.json
	SpecialTokensMap *SpecialTokensMap
	Generation       *IDConfig // generation_config.json
	Model            *IDConfig // config.json
}

// TokenizerConfig is what tokenizer_config.json says about tokens. Token
// fields hold the token's text; nil means absent or null.
type TokenizerConfig struct {
	BOS, EOS, PAD, UNK *string
	// AddBOS and AddEOS are add_bos_token and add_eos_token.
	AddBOS, AddEOS *bool
	// ChatTemplate is the default template; ChatTemplates holds the named
	// ones when the file has a list.
	ChatTemplate  string
	ChatTemplates map[string]string
	// AddedTokensDecoder is added_tokens_decoder keyed by id.
	AddedTokensDecoder map[int]AddedToken
	TokenizerClass     string
	// Raw is the whole file, for rewriting it.
	Raw map[string]json.RawMessage
}

// SpecialTokensMap is special_tokens_map.json.
type SpecialTokensMap struct {
	BOS, EOS, PAD, UNK *string
	Additional         []string
	Raw                map[string]json.RawMessage
}

// IDConfig holds the token ids of config.json or generation_config.json;
// EOS may list several ids.
type IDConfig struct {
	BOS, PAD  *int
	EOS       []int
	VocabSize *int
	Raw       map[string]json.RawMessage
}

// tokenText reads a token written as a string, an AddedToken object or null
// (tokfile.SpecialToken).
func tokenText(raw json.RawMessage) (*string, error) {
	tok, ok, err := tokfile.SpecialToken(raw)
	if err != nil || !ok {
		return nil, err
	}
	return &tok, nil
}

func tokenFields(raw map[string]json.RawMessage, dst map[string]**string) error {
	for k, p := range dst {
		v, err := tokenText(raw[k])
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		*p = v
	}
	return nil
}

func optBool(raw json.RawMessage) (*bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ParseTokenizerConfig parses tokenizer_config.json.
func ParseTokenizerConfig(data []byte) (*TokenizerConfig, error) {
	if err := tokfile.CheckConfig(data); err != nil {
		return nil, err
	}
	c := &TokenizerConfig{}
	if err := json.Unmarshal(data, &c.Raw); err != nil {
		return nil, err
	}
	if err := tokenFields(c.Raw, map[string]**string{"bos_token": &c.BOS, "eos_token": &c.EOS, "pad_token": &c.PAD, "unk_token": &c.UNK}); err != nil {
		return nil, err
	}
	var err error
	if c.AddBOS, err = optBool(c.Raw["add_bos_token"]); err != nil {
		return nil, fmt.Errorf("add_bos_token: %w", err)
	}
	if c.AddEOS, err = optBool(c.Raw["add_eos_token"]); err != nil {
		return nil, fmt.Errorf("add_eos_token: %w", err)
	}
	if raw, ok := c.Raw["chat_template"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &c.ChatTemplate); err != nil {
			var named []struct{ Name, Template string }
			if err := json.Unmarshal(raw, &named); err != nil {
				return nil, fmt.Errorf("chat_template: want a string or a list of {name, template}: %w", err)
			}
			c.ChatTemplates = map[string]string{}
			for _, n := range named {
				c.ChatTemplates[n.Name] = n.Template
			}
			c.ChatTemplate = c.ChatTemplates["default"]
		}
	}
	if raw, ok := c.Raw["tokenizer_class"]; ok {
		_ = json.Unmarshal(raw, &c.TokenizerClass)
	}
	if raw, ok := c.Raw["added_tokens_decoder"]; ok && string(raw) != "null" {
		var m map[string]AddedToken
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("added_tokens_decoder: %w", err)
		}
		c.AddedTokensDecoder = map[int]AddedToken{}
		for k, a := range m {
			var id int
			if _, err := fmt.Sscan(k, &id); err != nil {
				return nil, fmt.Errorf("added_tokens_decoder key %q: not an id", k)
			}
			a.ID = id
			c.AddedTokensDecoder[id] = a
		}
	}
	return c, nil
}

// ParseSpecialTokensMap parses special_tokens_map.json.
func ParseSpecialTokensMap(data []byte) (*SpecialTokensMap, error) {
	if err := tokfile.CheckConfig(data); err != nil {
		return nil, err
	}
	c := &SpecialTokensMap{}
	if err := json.Unmarshal(data, &c.Raw); err != nil {
		return nil, err
	}
	if err := tokenFields(c.Raw, map[string]**string{"bos_token": &c.BOS, "eos_token": &c.EOS, "pad_token": &c.PAD, "unk_token": &c.UNK}); err != nil {
		return nil, err
	}
	var extra []json.RawMessage
	if raw, ok := c.Raw["additional_special_tokens"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &extra); err != nil {
			return nil, fmt.Errorf("additional_special_tokens: %w", err)
		}
	}
	for i, r := range extra {
		s, err := tokenText(r)
		if err != nil || s == nil {
			return nil, fmt.Errorf("additional_special_tokens[%d]: want a token", i)
		}
		c.Additional = append(c.Additional, *s)
	}
	return c, nil
}

func optInt(raw json.RawMessage) (*int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ParseIDConfig parses the token ids of config.json or
// generation_config.json.
func ParseIDConfig(data []byte) (*IDConfig, error) {
	c := &IDConfig{}
	if err := json.Unmarshal(data, &c.Raw); err != nil {
		return nil, err
	}
	var err error
	if c.BOS, err = optInt(c.Raw["bos_token_id"]); err != nil {
		return nil, fmt.Errorf("bos_token_id: %w", err)
	}
	if c.PAD, err = optInt(c.Raw["pad_token_id"]); err != nil {
		return nil, fmt.Errorf("pad_token_id: %w", err)
	}
	if c.VocabSize, err = optInt(c.Raw["vocab_size"]); err != nil {
		return nil, fmt.Errorf("vocab_size: %w", err)
	}
	if raw, ok := c.Raw["eos_token_id"]; ok && string(raw) != "null" {
		if one, err := optInt(raw); err == nil {
			c.EOS = []int{*one}
		} else if err := json.Unmarshal(raw, &c.EOS); err != nil {
			return nil, fmt.Errorf("eos_token_id: want an id or a list: %w", err)
		}
	}
	return c, nil
}

// readMaybeGz reads name, or name.gz when only that exists, either at most
// tokfile.MaxFileSize bytes (decompressed). It returns fs.ErrNotExist when
// neither exists.
func readMaybeGz(dir, name string) ([]byte, string, error) {
	p := filepath.Join(dir, name)
	data, err := tokfile.ReadFile(p)
	if err == nil {
		return data, p, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, p, err
	}
	gz, err := tokfile.ReadFile(p + ".gz")
	if err != nil {
		return nil, p, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, p + ".gz", err
	}
	data, err = tokfile.ReadAllLimited(zr, p+".gz")
	return data, p + ".gz", err
}

// readMaybeGzFile reads a file, gunzipping it when its name ends in .gz.
func readMaybeGzFile(p string) ([]byte, error) {
	dir, name := filepath.Split(p)
	data, _, err := readMaybeGz(dir, strings.TrimSuffix(name, ".gz"))
	return data, err
}

// LoadConfig reads the side files of dir; absent files leave nil fields.
// Special tokens that are not tokens and chat templates that fail
// tokfile.CheckTemplate (in tokenizer_config.json or chat_template.jinja)
// are errors, as every side file over tokfile.MaxFileSize.
func LoadConfig(dir string) (Config, error) {
	var c Config
	type side struct {
		name  string
		parse func([]byte) error
	}
	sides := []side{
		{"tokenizer_config.json", func(b []byte) (err error) { c.Tokenizer, err = ParseTokenizerConfig(b); return }},
		{"special_tokens_map.json", func(b []byte) (err error) { c.SpecialTokensMap, err = ParseSpecialTokensMap(b); return }},
		{"generation_config.json", func(b []byte) (err error) { c.Generation, err = ParseIDConfig(b); return }},
		{"config.json", func(b []byte) (err error) { c.Model, err = ParseIDConfig(b); return }},
	}
	for _, s := range sides {
		data, p, err := readMaybeGz(dir, s.name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return c, fmt.Errorf("read %s: %w", p, err)
		}
		if err := s.parse(data); err != nil {
			return c, fmt.Errorf("%w: %s: %w", ErrFormat, p, err)
		}
	}
	// transformers prefers chat_template.jinja to tokenizer_config.json's
	// chat_template; both must pass the same structural check.
	data, p, err := readMaybeGz(dir, "chat_template.jinja")
	switch {
	case err == nil:
		if err := tokfile.CheckTemplate(string(data)); err != nil {
			return c, fmt.Errorf("%w: %s: %w", ErrFormat, p, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return c, fmt.Errorf("read %s: %w", p, err)
	}
	return c, nil
}

// Load reads a tokenizer from dir: tokenizer.json (or tokenizer.json.gz),
// else a SentencePiece tokenizer.model, plus the side files into Config.
// For a tokenizer.model, tokenizer_config.json's added_tokens_decoder
// adds its tokens (matched in raw text), as transformers does.
func Load(dir string) (*Tokenizer, error) {
	var t *Tokenizer
	data, p, err := readMaybeGz(dir, "tokenizer.json")
	switch {
	case err == nil:
		if t, err = FromJSON(data); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		p = filepath.Join(dir, "tokenizer.model")
		data, err = tokfile.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("load tokenizer from %s: no tokenizer.json or tokenizer.model: %w", dir, err)
		}
		if t, err = FromSentencePiece(data); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	default:
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if t.Config, err = LoadConfig(dir); err != nil {
		return nil, err
	}
	if t.sp != nil && t.Config.Tokenizer != nil && len(t.Config.Tokenizer.AddedTokensDecoder) > 0 {
		t.addConfigTokens(t.Config.Tokenizer.AddedTokensDecoder)
	}
	return t, nil
}

// Role is one special token as the files define it.
type Role struct {
	Token string
	ID    int
	// Found is false when no file names the token or it has no id.
	Found bool
}

// SpecialTokens are the bos/eos/pad/unk tokens of a tokenizer.
type SpecialTokens struct{ BOS, EOS, PAD, UNK Role }

// Special resolves bos/eos/pad/unk: the token text from
// tokenizer_config.json, else special_tokens_map.json, and its id from the
// vocabulary. For a tokenizer.model the SentencePiece ids are used.
func (t *Tokenizer) Special() SpecialTokens {
	pick := func(tc, sm func() *string, fallback Role) Role {
		var s *string
		if t.Config.Tokenizer != nil {
			s = tc()
		}
		if s == nil && t.Config.SpecialTokensMap != nil {
			s = sm()
		}
		if s == nil {
			return fallback
		}
		id, ok := t.TokenToID(*s)
		return Role{Token: *s, ID: id, Found: ok}
	}
	tc, sm := t.Config.Tokenizer, t.Config.SpecialTokensMap
	var fb SpecialTokens
	if sp, ok := t.model.(*spModel); ok {
		fb = sp.special
	}
	return SpecialTokens{
		BOS: pick(func() *string { return tc.BOS }, func() *string { return sm.BOS }, fb.BOS),
		EOS: pick(func() *string { return tc.EOS }, func() *string { return sm.EOS }, fb.EOS),
		PAD: pick(func() *string { return tc.PAD }, func() *string { return sm.PAD }, fb.PAD),
		UNK: pick(func() *string { return tc.UNK }, func() *string { return sm.UNK }, fb.UNK),
	}
}
