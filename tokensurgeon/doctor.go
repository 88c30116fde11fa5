package tokensurgeon

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Severity grades a finding.
type Severity string

// Severities: an error breaks generation or loading; a warning is worth
// knowing before a merge.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Finding is one problem doctor found.
type Finding struct {
	Severity Severity `json:"severity"`
	// Check names the rule, e.g. "eos-config" or "mismatch-eos".
	Check string `json:"check"`
	// Model is the model directory, or for a mismatch between models the
	// second one (the first is the reference).
	Model   string `json:"model"`
	Message string `json:"message"`
	// Fix says what would repair it.
	Fix string `json:"fix,omitempty"`
}

// Report is doctor's result.
type Report struct {
	Models   []string  `json:"models"`
	Findings []Finding `json:"findings"`
}

// Errors counts the findings of severity Error.
func (r *Report) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Error {
			n++
		}
	}
	return n
}

// Diagnose checks each model's token configuration and, with several
// models, every model against the first. The defects that make
// LoadModelFiles refuse a model (a tokenizer.json whose ids fail
// tokfile.CheckIDs, an empty vocabulary, a file too large or not JSON, a
// special token that is not a token, a chat template that fails
// CheckTemplate) are error findings; only a missing directory is an error.
func Diagnose(dirs ...string) (*Report, error) {
	r := &Report{Findings: []Finding{}}
	var models []*ModelFiles
	for _, d := range dirs {
		m, err := readModelFiles(d)
		if err != nil {
			return nil, fmt.Errorf("doctor: %w", err)
		}
		models = append(models, m)
		r.Models = append(r.Models, d)
	}
	for _, m := range models {
		r.Findings = append(r.Findings, checkModel(m)...)
	}
	for _, m := range models[min(1, len(models)):] {
		r.Findings = append(r.Findings, compare(models[0], m)...)
	}
	return r, nil
}

// checkModel finds inconsistencies inside one model.
func checkModel(m *ModelFiles) []Finding {
	var out []Finding
	add := func(sev Severity, check, msg, fix string) {
		out = append(out, Finding{Severity: sev, Check: check, Model: m.Dir, Message: msg, Fix: fix})
	}
	for _, d := range m.defects {
		add(Error, d.check, d.err.Error(), d.fix)
	}
	if m.Tokenizer == nil {
		if m.TokenizerConfig == nil && !m.hasDefect("tokenizer.json") && !m.hasDefect("tokenizer_config.json") {
			add(Warning, "no-tokenizer", "no tokenizer.json or tokenizer_config.json", "copy the tokenizer files of the model it was tuned from")
		}
		return out
	}
	idOf := func(tok string) (int, bool) { id, ok := m.Vocab[tok]; return id, ok }
	desc := func(id int) string {
		for t, i := range m.Vocab {
			if i == id {
				return fmt.Sprintf("%d (%s)", id, t)
			}
		}
		return fmt.Sprintf("%d (not in the vocabulary)", id)
	}
	// Role tokens exist, and config files agree with the tokenizer.
	for _, role := range Roles {
		tok := m.TokenOf(role)
		if tok == "" {
			continue
		}
		id, ok := idOf(tok)
		if !ok {
			add(Error, role+"-token", fmt.Sprintf("tokenizer_config.json names %s_token %q, which the vocabulary lacks", role, tok),
				fmt.Sprintf("add %q to the tokenizer or name an existing token as %s_token", tok, role))
			continue
		}
		if role == "unk" {
			continue
		}
		for _, f := range []struct {
			name string
			cfg  map[string]any
		}{{"config.json", m.Config}, {"generation_config.json", m.Generation}} {
			ids := IDs(f.cfg, role)
			if f.cfg == nil || len(ids) == 0 || slices.Contains(ids, id) {
				continue
			}
			sev := Error
			if role == "pad" {
				sev = Warning
			}
			add(sev, role+"-"+strings.TrimSuffix(f.name, ".json"),
				fmt.Sprintf("%s %s_token_id is %s but the tokenizer's %s_token is %q (%d)", f.name, role, idList(ids, desc), role, tok, id),
				fmt.Sprintf("set %s_token_id in %s to %d", role, f.name, id))
		}
	}
	// The chat template's tokens exist, and generation stops at turn end.
	if m.ChatTemplate != "" {
		for _, tok := range templateTokens(m.ChatTemplate) {
			if _, ok := idOf(tok); !ok {
				add(Error, "template-token", fmt.Sprintf("the chat template writes %s, which the vocabulary lacks (it is split into pieces and the model never learned it)", tok),
					"use the tokenizer the template was written for, or add the token (gomerge tokensurgeon)")
			}
		}
		out = append(out, checkRenderedTemplate(m, desc)...)
	}
	// Vocabulary and embedding sizes.
	if rows := m.VocabRows(); m.EmbedRows >= 0 && int64(rows) > m.EmbedRows {
		add(Error, "vocab-rows", fmt.Sprintf("the tokenizer has ids up to %d but %s has %d rows: those tokens crash the model", rows-1, m.EmbedName, m.EmbedRows),
			"resize the embeddings (gomerge tokensurgeon) or drop the extra tokens")
	}
	if vs := IDs(map[string]any{"vocab_token_id": m.Config["vocab_size"]}, "vocab"); len(vs) == 1 && m.EmbedRows >= 0 && int64(vs[0]) != m.EmbedRows {
		add(Warning, "config-vocab", fmt.Sprintf("config.json vocab_size is %d but %s has %d rows", vs[0], m.EmbedName, m.EmbedRows),
			fmt.Sprintf("set vocab_size in config.json to %d", m.EmbedRows))
	}
	for _, role := range []string{"pad", "bos", "eos"} {
		for _, id := range IDs(m.Config, role) {
			if m.EmbedRows >= 0 && int64(id) >= m.EmbedRows {
				add(Error, role+"-range", fmt.Sprintf("config.json %s_token_id %d is beyond the %d embedding rows", role, id, m.EmbedRows), "")
			}
		}
	}
	// tokenizer_config.json's added_tokens_decoder agrees with tokenizer.json.
	if dec, ok := m.TokenizerConfig["added_tokens_decoder"].(map[string]any); ok {
		for key, v := range dec {
			e, _ := v.(map[string]any)
			content, _ := e["content"].(string)
			id, err := strconv.Atoi(key)
			if err != nil || content == "" {
				continue
			}
			if got, ok := m.Vocab[content]; !ok || got != id {
				add(Warning, "added-tokens-decoder", fmt.Sprintf("tokenizer_config.json maps id %d to %q but tokenizer.json does not", id, content),
					"rewrite added_tokens_decoder from tokenizer.json")
			}
		}
	}
	return out
}

func (m *ModelFiles) hasDefect(file string) bool {
	return slices.ContainsFunc(m.defects, func(d defect) bool { return d.file == file })
}

// stopIDs are the ids generation stops at: generation_config.json's
// eos_token_id, else config.json's, else the tokenizer's eos_token.
func stopIDs(m *ModelFiles) []int {
	if ids := IDs(m.Generation, "eos"); len(ids) > 0 {
		return ids
	}
	if ids := IDs(m.Config, "eos"); len(ids) > 0 {
		return ids
	}
	if id, ok := m.Vocab[m.TokenOf("eos")]; ok {
		return []int{id}
	}
	return nil
}

func appendUnique(ids []int, id int) []int {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(slices.Clone(ids), id)
}

func idList(ids []int, f func(int) string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = f(id)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// alignFix is the fix for special tokens that differ between ref and m:
// --align-special with ref as the donor where AlignSpecial would accept it
// (naming --take-template-from when the templates differ, since it is
// refused without), else a merge that builds one tokenizer.
func alignFix(ref, m *ModelFiles) string {
	if err := compatible(m, ref); err != nil {
		return "merge with tokenizer_source: union (or a tokenizer: block), which gives the merge one vocabulary and one set of special tokens; " +
			"--align-special cannot take one tokenizer for both: " + strings.TrimPrefix(err.Error(), "align: ")
	}
	flag := ""
	if m.ChatTemplate != "" && strings.TrimSpace(m.ChatTemplate) != strings.TrimSpace(ref.ChatTemplate) {
		flag = " --take-template-from donor|model"
	}
	return fmt.Sprintf("merge with tokenizer_source: union, or align them first (gomerge tokensurgeon --align-special %s %s OUT%s)", m.Dir, ref.Dir, flag)
}

// compare finds what differs between a reference model and another one.
func compare(ref, m *ModelFiles) []Finding {
	var out []Finding
	add := func(sev Severity, check, msg, fix string) {
		out = append(out, Finding{Severity: sev, Check: check, Model: m.Dir, Message: msg, Fix: fix})
	}
	for _, role := range Roles {
		a, b := ref.TokenOf(role), m.TokenOf(role)
		ia, oka := ref.Vocab[a]
		ib, okb := m.Vocab[b]
		switch {
		case a != b:
			add(Error, "mismatch-"+role, fmt.Sprintf("%s_token is %q in %s but %q in %s", role, a, ref.Dir, b, m.Dir), alignFix(ref, m))
		case oka && okb && ia != ib:
			add(Error, "mismatch-"+role, fmt.Sprintf("%s_token %q has id %d in %s but %d in %s", role, a, ia, ref.Dir, ib, m.Dir), "merge with tokenizer_source: union")
		}
		sa, sb := IDs(ref.Generation, role), IDs(m.Generation, role)
		if role == "eos" && ref.Generation != nil && m.Generation != nil && !slices.Equal(sa, sb) {
			add(Warning, "mismatch-generation-eos", fmt.Sprintf("generation_config.json eos_token_id is %v in %s but %v in %s", sa, ref.Dir, sb, m.Dir),
				"after the merge, set eos_token_id in generation_config.json to every end token the merged model may emit")
		}
	}
	if ref.Tokenizer != nil && m.Tokenizer != nil {
		onlyA, onlyB, moved := 0, 0, 0
		var example string
		for t, id := range ref.Vocab {
			j, ok := m.Vocab[t]
			switch {
			case !ok:
				onlyA++
			case j != id:
				moved++
				if example == "" || t < example {
					example = t
				}
			}
		}
		for t := range m.Vocab {
			if _, ok := ref.Vocab[t]; !ok {
				onlyB++
			}
		}
		if onlyA+onlyB+moved > 0 {
			sev := Warning
			if moved > 0 {
				sev = Error
			}
			msg := fmt.Sprintf("vocabularies differ: %d tokens only in %s, %d only in %s, %d with different ids", onlyA, ref.Dir, onlyB, m.Dir, moved)
			if example != "" {
				msg += fmt.Sprintf(" (e.g. %q: %d vs %d)", example, ref.Vocab[example], m.Vocab[example])
			}
			add(sev, "mismatch-vocab", msg, "merge with tokenizer_source: union (or a tokenizer: block) so rows are matched by token, not by id")
		}
		a, ka := ref.AddsBOS()
		b, kb := m.AddsBOS()
		if ka && kb && a != b {
			add(Warning, "mismatch-adds-bos", fmt.Sprintf("the tokenizer of %s adds BOS automatically, that of %s does not", pick(a, ref.Dir, m.Dir), pick(a, m.Dir, ref.Dir)),
				"use one tokenizer for training data, evaluation and the merged model")
		}
	}
	if ref.ChatTemplate != "" && m.ChatTemplate != "" && strings.TrimSpace(ref.ChatTemplate) != strings.TrimSpace(m.ChatTemplate) {
		add(Warning, "mismatch-chat-template", "the chat templates differ",
			"choose one with chat_template: in the merge config (auto picks the most common)")
	}
	return out
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}
