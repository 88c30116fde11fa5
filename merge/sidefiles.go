package merge

import (
	"github.com/gomerge/gomerge/internal/outdir"

	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/tokensurgeon"
)

// writeSideFiles writes everything but the tensors: tokenizer files,
// config.json, the special-token alignment, then the model card and config
// copy. It returns the alignment's changes.
func writeSideFiles(plan *Plan, o *outputDir, opt Options, log *slog.Logger) ([]string, error) {
	if err := copyTokenizer(plan, o, opt, log); err != nil {
		return nil, err
	}
	cfg, err := marshalJSON(plan.OutConfig)
	if err != nil {
		return nil, err
	}
	if err := o.writeFile("config.json", cfg); err != nil {
		return nil, err
	}
	var fixes []string
	if !opt.KeepSpecialTokens && exists(o.path("tokenizer_config.json")) {
		changes, warnings, err := tokensurgeon.AlignFiles(o.tmp)
		if err != nil {
			// mergekit copies tokenizers it cannot read; so do we, saying so.
			warnings = append(warnings, fmt.Sprintf("special tokens not checked: %v", err))
		}
		for _, c := range changes {
			log.Warn("special tokens aligned with the tokenizer and chat template (--no-align-special-tokens keeps the donor's)", "change", c)
		}
		for _, w := range warnings {
			log.Warn(w)
		}
		fixes = append(changes, warnings...)
	}
	fixes = append(fixes, diagnoseOutput(o.tmp, log)...)
	if !opt.SkipModelCard {
		if err := o.writeFile("README.md", []byte(modelCard(plan, filepath.Base(o.final), opt.seed(), fixes))); err != nil {
			return nil, err
		}
		if err := o.writeFile("mergekit_config.yml", plan.Config.Raw); err != nil {
			return nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(opt.ExtraFiles)) {
		if name == "" || name != filepath.Base(name) || name == "." || name == ".." || strings.HasPrefix(name, ".gomerge") {
			return nil, fmt.Errorf("extra output file %q: want a plain file name", name)
		}
		if err := o.writeFile(name, opt.ExtraFiles[name]); err != nil {
			return nil, err
		}
	}
	return fixes, nil
}

// diagnoseOutput runs gomerge doctor's checks on the written side files
// and says loudly what is still wrong: a merge whose user kept the donor's
// special tokens (--no-align-special-tokens) or chose a template the
// vocabulary cannot write must not come out broken in silence. Each
// error is returned as a line for --json and the model card.
func diagnoseOutput(dir string, log *slog.Logger) []string {
	if !exists(filepath.Join(dir, "tokenizer_config.json")) {
		return nil
	}
	rep, err := tokensurgeon.Diagnose(dir)
	if err != nil {
		return nil // AlignFiles already said why the files cannot be read
	}
	var out []string
	for _, f := range rep.Findings {
		if f.Severity != tokensurgeon.Error {
			continue
		}
		line := "gomerge doctor: " + f.Message
		if f.Fix != "" {
			line += " (fix: " + f.Fix + ")"
		}
		log.Warn("the merged model is inconsistent: "+f.Message, "check", f.Check, "fix", f.Fix)
		out = append(out, line)
	}
	return out
}

// marshalJSON writes v as transformers does: sorted keys, two-space
// indent, no HTML escaping, trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tokenizerFiles are copied verbatim from the donor in legacy mode
// (mergekit's _copy_tokenizer).
var tokenizerFiles = []string{
	"tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
	"added_tokens.json", "merges.txt", "vocab.json", "chat_template.jinja", "generation_config.json",
	"chat_template.json", "video_preprocessor_config.json",
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func copyTokenizer(plan *Plan, o *outputDir, opt Options, log *slog.Logger) error {
	template := plan.Config.ChatTemplate
	if bt := plan.tokenizer; bt != nil {
		if err := writeBuiltTokenizer(bt, o); err != nil {
			return err
		}
		return applyChatTemplate(plan, o, template, log)
	}
	if opt.SkipTokenizer {
		if template != "" {
			log.Warn("chat_template is set but no tokenizer is written (--no-copy-tokenizer)")
		}
		return nil
	}
	donor := plan.Donor.Dir
	if !exists(filepath.Join(donor, "tokenizer_config.json")) ||
		!exists(filepath.Join(donor, "tokenizer.json")) && !exists(filepath.Join(donor, "tokenizer.model")) {
		if template != "" {
			log.Warn("chat_template is set but the donor model has no tokenizer", "model", plan.Donor.Ref.String())
		} else {
			log.Info("no tokenizer copied: the donor model has none", "model", plan.Donor.Ref.String())
		}
		return nil
	}
	for _, name := range tokenizerFiles {
		src := filepath.Join(donor, name)
		if !exists(src) {
			continue
		}
		if err := outdir.CopyFile(src, o.path(name)); err != nil {
			return fmt.Errorf("copy tokenizer file %s: %w", src, err)
		}
	}
	return applyChatTemplate(plan, o, template, log)
}

// builtTokenizerFiles are the files a built tokenizer copies from the
// model whose tokenizer it is, when it is used unchanged (transformers'
// save_pretrained writes no generation_config.json).
var builtTokenizerFiles = []string{
	"tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
	"added_tokens.json", "merges.txt", "vocab.json", "chat_template.jinja", "chat_template.json",
}

// writeBuiltTokenizer writes the tokenizer of a merge that built one.
func writeBuiltTokenizer(bt *builtTokenizer, o *outputDir) error {
	if bt.copyFrom != "" {
		for _, name := range builtTokenizerFiles {
			src := filepath.Join(bt.copyFrom, name)
			if !exists(src) {
				continue
			}
			if err := outdir.CopyFile(src, o.path(name)); err != nil {
				return fmt.Errorf("copy tokenizer file %s: %w", src, err)
			}
		}
		return nil
	}
	names := make([]string, 0, len(bt.files))
	for name := range bt.files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := o.writeFile(name, bt.files[name]); err != nil {
			return err
		}
	}
	return nil
}

// applyChatTemplate sets the configured chat template, if any, in the
// written tokenizer files.
func applyChatTemplate(plan *Plan, o *outputDir, template string, log *slog.Logger) error {
	if template == "" {
		return nil
	}
	if !exists(o.path("tokenizer_config.json")) {
		return nil
	}
	var fits func(string) bool
	if template == "auto" {
		if m, err := tokensurgeon.LoadModelFiles(o.tmp); err == nil && m.Tokenizer != nil {
			fits = func(t string) bool {
				for _, tok := range tokensurgeon.TemplateTokens(t) {
					if _, ok := m.Vocab[tok]; !ok {
						return false
					}
				}
				return true
			}
		}
	}
	text, ok, skipped, err := resolveChatTemplate(plan, template, fits)
	if err != nil || !ok {
		return err
	}
	if skipped {
		log.Warn("chat_template auto: the most common template writes tokens the merged vocabulary lacks; took the most common one it can write instead")
	}
	return setChatTemplate(o, text)
}

// setChatTemplate writes the template into tokenizer_config.json and, when
// the donor shipped one, chat_template.jinja (which newer transformers
// prefer).
func setChatTemplate(o *outputDir, text string) error {
	path := o.path("tokenizer_config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cfg, err := decodeJSONObject(raw)
	if err != nil {
		return fmt.Errorf("tokenizer_config.json: %w", err)
	}
	cfg["chat_template"] = text
	data, err := marshalJSON(cfg)
	if err != nil {
		return err
	}
	if err := o.writeFile("tokenizer_config.json", data); err != nil {
		return err
	}
	if exists(o.path("chat_template.jinja")) {
		return o.writeFile("chat_template.jinja", []byte(text))
	}
	return nil
}

// resolveChatTemplate turns the chat_template setting into template text:
// a built-in name, "auto" (the most common template among the inputs), or
// the literal template. ok is false when "auto" finds none. With fits set,
// "auto" takes the most common template among those fits accepts (those
// whose special tokens the written vocabulary has), if any: the ChatML of
// one fine-tune is no use on the base's tokenizer when another input's
// [INST] template works.
func resolveChatTemplate(plan *Plan, setting string, fits func(string) bool) (text string, ok, skipped bool, err error) {
	if setting == "auto" {
		skipped := false
		counts := map[string]int{}
		var order []string
		for _, m := range plan.Models {
			t := modelChatTemplate(m.Dir)
			if t == "" {
				continue
			}
			if counts[t] == 0 {
				order = append(order, t)
			}
			counts[t]++
		}
		best := ""
		for _, t := range order {
			if counts[t] > counts[best] {
				best = t
			}
		}
		if fits != nil && best != "" && !fits(best) {
			usable := ""
			for _, t := range order {
				if fits(t) && counts[t] > counts[usable] {
					usable = t
				}
			}
			if usable != "" {
				best = usable
				skipped = true
			}
		}
		return best, best != "", skipped, nil
	}
	if t, ok := builtinTemplates[setting]; ok {
		return t, true, false, nil
	}
	return setting, true, false, nil
}

// modelChatTemplate reads a model's chat template (the "default" one of a
// list), whitespace-trimmed, or "".
func modelChatTemplate(dir string) string {
	if raw, err := regfile.ReadFile(filepath.Join(dir, "chat_template.jinja"), regfile.ConfigLimit); err == nil {
		return strings.TrimSpace(string(raw))
	}
	raw, err := regfile.ReadFile(filepath.Join(dir, "tokenizer_config.json"), regfile.ConfigLimit)
	if err != nil {
		return ""
	}
	var cfg struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if json.Unmarshal(raw, &cfg) != nil || cfg.ChatTemplate == nil {
		return ""
	}
	var s string
	if json.Unmarshal(cfg.ChatTemplate, &s) == nil {
		return strings.TrimSpace(s)
	}
	var list []struct{ Name, Template string }
	if json.Unmarshal(cfg.ChatTemplate, &list) == nil {
		for _, t := range list {
			if t.Name == "default" {
				return strings.TrimSpace(t.Template)
			}
		}
	}
	return ""
}
