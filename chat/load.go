package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

// ErrNoTemplate is returned by Load and ParseConfig for a tokenizer
// without a chat template (a base model: prompts go in as plain text).
var ErrNoTemplate = errors.New("no chat template")

// ParseConfig reads the chat template called name from tokenizer_config.json
// held in data, with the config's special tokens. chat_template is either
// one string (named "default") or a list of {"name", "template"} objects
// (transformers' multi-template form); name "" picks "default", or the only
// template of a one-entry list.
func ParseConfig(data []byte, name string) (*Template, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, err
	}
	named, err := templatesOf(cfg["chat_template"])
	if err != nil {
		return nil, err
	}
	if len(named) == 0 {
		return nil, ErrNoTemplate
	}
	src, key, err := pick(named, name)
	if err != nil {
		return nil, err
	}
	t, err := Parse(key, src)
	if err != nil {
		return nil, err
	}
	t.SpecialTokens, err = specialTokens(cfg)
	return t, err
}

type namedTemplate struct{ name, src string }

func templatesOf(raw json.RawMessage) ([]namedTemplate, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []namedTemplate{{"default", s}}, nil
	}
	var list []struct {
		Name     *string `json:"name"`
		Template *string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("chat_template: want a string or a list of {\"name\", \"template\"}: %w", err)
	}
	var out []namedTemplate
	for i, e := range list {
		if e.Name == nil || e.Template == nil {
			return nil, fmt.Errorf("chat_template[%d]: want string \"name\" and \"template\"", i)
		}
		out = append(out, namedTemplate{*e.Name, *e.Template})
	}
	return out, nil
}

func pick(named []namedTemplate, name string) (src, key string, err error) {
	want := name
	if want == "" {
		want = "default"
	}
	if i := slices.IndexFunc(named, func(n namedTemplate) bool { return n.name == want }); i >= 0 {
		return named[i].src, named[i].name, nil
	}
	if name == "" && len(named) == 1 {
		return named[0].src, named[0].name, nil
	}
	var names []string
	for _, n := range named {
		names = append(names, n.name)
	}
	return "", "", fmt.Errorf("chat template %q not found: the tokenizer has %q", want, names)
}

func specialTokens(cfg map[string]json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range tokfile.SpecialTokenKeys {
		tok, ok, err := tokfile.SpecialToken(cfg[k])
		if err != nil {
			return nil, &tokfile.FieldError{Field: k, Err: err}
		}
		if ok {
			out[k] = tok
		}
	}
	return out, nil
}

// Load reads the chat template called name ("" for the default) of the
// model directory dir as transformers does: chat_template.jinja when
// present, else tokenizer_config.json's chat_template. Special tokens come
// from tokenizer_config.json, then special_tokens_map.json for those it
// lacks. A directory without a template gives ErrNoTemplate.
func Load(dir, name string) (*Template, error) {
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	cfgData, err := tokfile.ReadFile(cfgPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var cfg map[string]json.RawMessage
	if cfgData != nil {
		if err := json.Unmarshal(cfgData, &cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", cfgPath, err)
		}
	}
	var t *Template
	jinjaPath := filepath.Join(dir, "chat_template.jinja")
	if src, err := tokfile.ReadFile(jinjaPath); err == nil && (name == "" || name == "default") {
		if t, err = Parse("default", string(src)); err != nil {
			return nil, fmt.Errorf("%s: %w", jinjaPath, err)
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	} else {
		named, err := templatesOf(cfg["chat_template"])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfgPath, err)
		}
		if len(named) == 0 {
			return nil, fmt.Errorf("%s: %w", dir, ErrNoTemplate)
		}
		src, key, err := pick(named, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfgPath, err)
		}
		if t, err = Parse(key, src); err != nil {
			return nil, fmt.Errorf("%s: %w", cfgPath, err)
		}
	}
	if t.SpecialTokens, err = specialTokens(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	mapPath := filepath.Join(dir, "special_tokens_map.json")
	if data, err := tokfile.ReadFile(mapPath); err == nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) == nil {
			extra, err := specialTokens(m)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", mapPath, err)
			}
			for k, v := range extra {
				if _, ok := t.SpecialTokens[k]; !ok {
					t.SpecialTokens[k] = v
				}
			}
		}
	}
	return t, nil
}
