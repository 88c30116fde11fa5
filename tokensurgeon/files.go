// Package tokensurgeon diagnoses and repairs the token side of models:
// special-token ids that disagree between config.json,
// generation_config.json and the tokenizer files, chat templates that use
// tokens the vocabulary lacks or end turns with a token generation does
// not stop on, vocabularies larger than the embedding matrix, and
// mismatches between models that are to be merged.
package tokensurgeon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

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

	defects []defect
}

// LoadModelFiles reads the token-related files of a model directory. It
// reads safetensors headers only, never weights. It refuses a directory
// whose token files are defective — a tokenizer.json that fails
// tokfile.CheckIDs or is over tokfile.MaxFileSize, a side file that is not
// JSON or whose special tokens are not tokens, a chat template that fails
// CheckTemplate —, naming each defect; Diagnose reports them instead.
func LoadModelFiles(dir string) (*ModelFiles, error) {
	m, err := readModelFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(m.defects) > 0 {
		errs := make([]error, len(m.defects))
		for i, d := range m.defects {
			errs[i] = d.err
		}
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// defect is a problem of a model's token files that LoadModelFiles
// refuses and Diagnose reports as an error finding.
type defect struct {
	check, file string // file is the base name
	err         error  // names the file
	fix         string
}

// readModelFiles reads what it can of a model directory's token files,
// recording each defect in m.defects; only a missing directory is an error.
func readModelFiles(dir string) (*ModelFiles, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	m := &ModelFiles{Dir: dir, EmbedRows: -1}
	for _, f := range []struct {
		name string
		dst  *map[string]any
	}{
		{"config.json", &m.Config}, {"generation_config.json", &m.Generation},
		{"tokenizer_config.json", &m.TokenizerConfig}, {"special_tokens_map.json", &m.SpecialMap},
	} {
		path := filepath.Join(dir, f.name)
		v, err := readJSONObject(path)
		if err != nil {
			m.defect(f.name, "json-file", err, "the file is not a JSON object (truncated or overwritten?): restore it from the model's source")
			continue
		}
		*f.dst = v
		if f.name == "tokenizer_config.json" || f.name == "special_tokens_map.json" {
			m.checkSideFile(path, f.name)
		}
	}
	if m.Tokenizer, err = tokfile.Load(dir); err != nil && !errors.Is(err, tokfile.ErrNoTokenizerJSON) {
		m.tokenizerDefect(err)
	}
	if m.Tokenizer != nil {
		m.Vocab = m.Tokenizer.Vocab()
	}
	var fromFile bool
	m.ChatTemplate, fromFile, err = chatTemplate(dir, m.TokenizerConfig)
	switch {
	case err != nil:
		m.defect("chat_template.jinja", "chat-template-syntax", err, "restore chat_template.jinja from the model's source")
	case fromFile:
		// tokenizer_config.json's template was checked with the file.
		if err := tokfile.CheckTemplate(m.ChatTemplate); err != nil {
			m.defect("chat_template.jinja", "chat-template-syntax", fmt.Errorf("%s: %w", filepath.Join(dir, "chat_template.jinja"), err), templateFix)
		}
	}
	m.embedRows()
	return m, nil
}

func (m *ModelFiles) defect(file, check string, err error, fix string) {
	m.defects = append(m.defects, defect{check: check, file: file, err: err, fix: fix})
}

// checkSideFile checks the special tokens and chat template of
// tokenizer_config.json or special_tokens_map.json (tokfile.CheckConfig).
func (m *ModelFiles) checkSideFile(path, name string) {
	raw, err := tokfile.ReadFile(path)
	if err != nil {
		return // readJSONObject read it a moment ago
	}
	err = tokfile.CheckConfig(raw)
	var fe *tokfile.FieldError
	if !errors.As(err, &fe) {
		return
	}
	check, fix := "special-token-type", fmt.Sprintf(`write %s as a string, e.g. "%s": "<s>", or as an object with a string "content"`, fe.Field, fe.Field)
	var te *tokfile.TemplateError
	switch {
	case errors.As(err, &te):
		check, fix = "chat-template-syntax", templateFix
	case strings.HasPrefix(fe.Field, "chat_template"):
		check, fix = "chat-template-type", `write chat_template as a string, or as a list of {"name": ..., "template": ...}`
	}
	m.defect(name, check, fmt.Errorf("%s: %w", path, err), fix)
}

// tokenizerDefect records why tokenizer.json was refused.
func (m *ModelFiles) tokenizerDefect(err error) {
	check, fix := "tokenizer-json", "tokenizer.json is not valid JSON (truncated?): restore it from the model's source"
	var ie *tokfile.IDError
	switch {
	case errors.Is(err, tokfile.ErrTooLarge):
		check, fix = "tokenizer-size", fmt.Sprintf("a tokenizer.json is at most %d MiB: replace the file with the model's real tokenizer.json", tokfile.MaxFileSize>>20)
	case errors.Is(err, tokfile.ErrEmptyVocab):
		check, fix = "vocab-empty", "the tokenizer has no tokens: restore tokenizer.json from the model's source"
	case errors.As(err, &ie) && ie.Problem == tokfile.IDTwice:
		check, fix = "added-token-id", fmt.Sprintf("give %q one id: in added_tokens, the id model.vocab gives it", ie.Token)
	case errors.As(err, &ie) && ie.Problem == tokfile.IDShared:
		check, fix = "token-id-clash", fmt.Sprintf("give %q and %q different ids, or remove one of them", ie.Token, ie.Other)
	case errors.As(err, &ie):
		check, fix = "token-id", "token ids are integers from 0 to one less than the vocabulary size: restore tokenizer.json from the model's source"
	}
	m.defect("tokenizer.json", check, err, fix)
}

func readJSONObject(path string) (map[string]any, error) {
	raw, err := tokfile.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if v == nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	return v, nil
}

// templateFix is the fix for a chat template that fails
// tokfile.CheckTemplate.
const templateFix = "repair the template where the message says (the check is structural: tags and delimiters), or take the chat template of the model this one was tuned from"

// chatTemplate is the default chat template: chat_template.jinja
// (fromFile), else tokenizer_config.json's chat_template (a string, or a
// list of named templates whose "default" entry counts).
func chatTemplate(dir string, tc map[string]any) (tmpl string, fromFile bool, err error) {
	raw, err := tokfile.ReadFile(filepath.Join(dir, "chat_template.jinja"))
	if err == nil {
		return string(raw), true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	switch t := tc["chat_template"].(type) {
	case string:
		return t, false, nil
	case []any:
		for _, e := range t {
			if m, ok := e.(map[string]any); ok && m["name"] == "default" {
				s, _ := m["template"].(string)
				return s, false, nil
			}
		}
	}
	return "", false, nil
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
// TemplateTokens returns the special-token-like strings ("<|im_end|>",
// "[INST]" is not one) that the string literals of a Jinja chat template
// write, in order of first appearance. A vocabulary that lacks one splits
// it into pieces the model never learned.
func TemplateTokens(tmpl string) []string { return templateTokens(tmpl) }

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
