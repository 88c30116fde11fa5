// Package tokensurgeon diagnoses and repairs the token side of models:
// special-token ids that disagree between config.json,
// generation_config.json and the tokenizer files, chat templates that use
// tokens the vocabulary lacks or end turns with a token generation does
// not stop on, vocabularies larger than the embedding matrix, and
// mismatches between models that are to be merged.
package tokensurgeon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/merge/arch"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

// Roles are the special-token roles doctor compares, in report order.
var Roles = []string{"bos", "eos", "pad", "unk"}

// ModelFiles is the token-related configuration of one model directory.
// Missing files leave their parts empty.
type ModelFiles struct {
	Dir string
	// Config, Generation and TokenizerConfig are config.json,
	// generation_config.json and tokenizer_config.json, nil when absent.
	Config, Generation, TokenizerConfig map[string]any
	// SpecialMap is special_tokens_map.json, nil when absent.
	SpecialMap map[string]any
	// Tokenizer is tokenizer.json, nil when absent.
	Tokenizer *tokfile.File
	// Vocab is the tokenizer's token → id map (model and added tokens).
	Vocab map[string]int
	// ChatTemplate is the default chat template ("" when none).
	ChatTemplate string
	// EmbedRows is the input embedding's row count, -1 when unknown.
	EmbedRows int64
	// EmbedName is the input embedding tensor's name.
	EmbedName string
}

// LoadModelFiles reads the token-related files of a model directory. It
// reads safetensors headers only, never weights.
func LoadModelFiles(dir string) (*ModelFiles, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	m := &ModelFiles{Dir: dir, EmbedRows: -1}
	for name, dst := range map[string]*map[string]any{
		"config.json": &m.Config, "generation_config.json": &m.Generation,
		"tokenizer_config.json": &m.TokenizerConfig, "special_tokens_map.json": &m.SpecialMap,
	} {
		if *dst, err = readJSONObject(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	if m.Tokenizer, err = tokfile.Load(dir); err != nil && !errors.Is(err, tokfile.ErrNoTokenizerJSON) {
		return nil, err
	}
	if m.Tokenizer != nil {
		m.Vocab = m.Tokenizer.Vocab()
	}
	m.ChatTemplate = chatTemplate(dir, m.TokenizerConfig)
	m.embedRows()
	return m, nil
}

func readJSONObject(path string) (map[string]any, error) {
	raw, err := regfile.ReadFile(path, regfile.ConfigLimit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// chatTemplate is the default chat template: chat_template.jinja, else
// tokenizer_config.json's chat_template (a string, or a list of named
// templates whose "default" entry counts).
func chatTemplate(dir string, tc map[string]any) string {
	if raw, err := regfile.ReadFile(filepath.Join(dir, "chat_template.jinja"), regfile.ConfigLimit); err == nil {
		return string(raw)
	}
	switch t := tc["chat_template"].(type) {
	case string:
		return t
	case []any:
		for _, e := range t {
			if m, ok := e.(map[string]any); ok && m["name"] == "default" {
				s, _ := m["template"].(string)
				return s
			}
		}
	}
	return ""
}

// embedRows finds the input embedding in the safetensors headers.
func (m *ModelFiles) embedRows() {
	src, err := safetensors.OpenModel(m.Dir)
	if err != nil {
		return
	}
	defer src.Close()
	names := []string{"model.embed_tokens.weight", "transformer.wte.weight", "model.embed_in.weight", "gpt_neox.embed_in.weight", "transformer.word_embeddings.weight", "tok_embeddings.weight"}
	if m.Config != nil {
		list, _ := m.Config["architectures"].([]any)
		mt, _ := m.Config["model_type"].(string)
		if len(list) == 1 {
			name, _ := list[0].(string)
			if a, ok := arch.Lookup(name, mt); ok {
				for _, w := range a.Pre {
					if w.IsEmbed {
						names = append(append([]string{w.Name}, w.Aliases...), names...)
					}
				}
			}
		}
	}
	for _, n := range names {
		if info, ok := src.Tensor(n); ok && len(info.Shape) == 2 {
			m.EmbedRows, m.EmbedName = info.Shape[0], n
			return
		}
	}
}

// TokenOf is the token string of a role in tokenizer_config.json (or
// special_tokens_map.json), "" when unset. Roles are "bos", "eos", "pad",
// "unk".
func (m *ModelFiles) TokenOf(role string) string {
	for _, src := range []map[string]any{m.TokenizerConfig, m.SpecialMap} {
		switch v := src[role+"_token"].(type) {
		case string:
			return v
		case map[string]any:
			if s, ok := v["content"].(string); ok {
				return s
			}
		}
	}
	return ""
}

// IDs returns the ids a JSON file gives a role's *_token_id key: an int or
// a list of ints; nil when unset.
func IDs(cfg map[string]any, role string) []int {
	var out []int
	add := func(v any) {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				out = append(out, int(i))
			}
		}
	}
	switch v := cfg[role+"_token_id"].(type) {
	case []any:
		for _, e := range v {
			add(e)
		}
	default:
		add(v)
	}
	return out
}

// VocabRows is one past the largest token id of the tokenizer.
func (m *ModelFiles) VocabRows() int {
	n := 0
	for _, id := range m.Vocab {
		n = max(n, id+1)
	}
	return n
}

// AddsBOS reports whether the tokenizer's post-processor adds the BOS
// token (TemplateProcessing or RobertaProcessing naming it); known is false
// without tokenizer.json.
func (m *ModelFiles) AddsBOS() (adds, known bool) {
	if m.Tokenizer == nil {
		return false, false
	}
	bos := m.TokenOf("bos")
	raw := m.Tokenizer.Raw("post_processor")
	if len(raw) == 0 || string(raw) == "null" || bos == "" {
		return false, true
	}
	return strings.Contains(string(raw), mustJSON(bos)), true
}

func mustJSON(s string) string {
	b, _ := tokfile.MarshalNoEscape(s)
	return string(b)
}

// templateTokens are the special-looking tokens a chat template writes:
// <...> and <|...|> forms inside its string literals, in order of first use.
func templateTokens(tmpl string) []string {
	var out []string
	for _, lit := range stringLiterals(tmpl) {
		for i := 0; i < len(lit); i++ {
			if lit[i] != '<' {
				continue
			}
			j := strings.IndexByte(lit[i:], '>')
			if j < 0 {
				break
			}
			tok := lit[i : i+j+1]
			if len(tok) > 2 && len(tok) <= 64 && !strings.ContainsAny(tok[1:len(tok)-1], " <\n\t{}'\"") && !slices.Contains(out, tok) {
				out = append(out, tok)
			}
		}
	}
	return out
}

// stringLiterals returns the contents of the quoted strings inside a
// Jinja template's {{ }} and {% %} tags.
func stringLiterals(tmpl string) []string {
	var out []string
	inTag := false
	for i := 0; i < len(tmpl); i++ {
		switch {
		case !inTag && i+1 < len(tmpl) && tmpl[i] == '{' && (tmpl[i+1] == '{' || tmpl[i+1] == '%'):
			inTag = true
			i++
		case inTag && i+1 < len(tmpl) && (tmpl[i] == '}' || tmpl[i] == '%') && tmpl[i+1] == '}':
			inTag = false
			i++
		case inTag && (tmpl[i] == '\'' || tmpl[i] == '"'):
			q := tmpl[i]
			j := i + 1
			var b strings.Builder
			for ; j < len(tmpl) && tmpl[j] != q; j++ {
				if tmpl[j] == '\\' && j+1 < len(tmpl) {
					j++
					switch tmpl[j] {
					case 'n':
						b.WriteByte('\n')
					default:
						b.WriteByte(tmpl[j])
					}
					continue
				}
				b.WriteByte(tmpl[j])
			}
			out = append(out, b.String())
			i = j
		}
	}
	return out
}

// endOfTurn are tokens chat templates end an assistant turn with, which
// generation must stop on.
var endOfTurn = []string{"<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "<|end_of_text|>", "</s>", "<|eom_id|>", "[|endofturn|]"}

// turnEnd is the end-of-turn token a chat template writes, "" if none of
// the known ones.
func turnEnd(tmpl string) string {
	lits := strings.Join(stringLiterals(tmpl), "\x00")
	for _, t := range endOfTurn {
		if strings.Contains(lits, t) {
			return t
		}
	}
	return ""
}
