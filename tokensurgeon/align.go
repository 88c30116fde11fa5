package tokensurgeon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/internal/outdir"
)

// tokenizerFiles are the files a donor's tokenizer consists of.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
	"added_tokens.json", "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt"}

// AlignOptions configure [AlignSpecial].
type AlignOptions struct {
	// TakeTemplateFrom chooses the chat template when the model's and the
	// donor's differ: "donor" or "model". Unset, such a donor is refused,
	// so that no model loses its chat format unasked. "model" also keeps
	// the model's bos_token and eos_token, which its template writes.
	TakeTemplateFrom string
	// Overwrite lets out replace an existing directory gomerge did not
	// write; the input models are never replaced.
	Overwrite bool
	// Logger receives what the output's recovery of earlier runs did;
	// nil means slog.Default().
	Logger *slog.Logger
}

// ErrRefused is matched (errors.Is) by AlignSpecial's refusals, made
// before anything is written: a donor whose tokenizer cannot serve the
// model's embedding rows as they are, or chat templates that differ
// without TakeTemplateFrom.
var ErrRefused = errors.New("tokensurgeon: refused")

type refusal struct{ msg string }

func (r refusal) Error() string        { return r.msg }
func (r refusal) Is(target error) bool { return target == ErrRefused }

func refusef(format string, args ...any) error { return refusal{fmt.Sprintf(format, args...)} }

// AlignResult says what AlignSpecial changed.
type AlignResult struct {
	// Changes are human-readable lines, one per edit.
	Changes []string `json:"changes"`
	// Warnings are what could not be fixed.
	Warnings []string `json:"warnings,omitempty"`
}

// AlignSpecial writes to out a copy of the model in dir whose special
// tokens agree across every file, without touching a weight: with a donor,
// the donor's tokenizer files (and chat template) replace the model's —
// allowed only when every token the two share has the same id and every
// donor id fits the embedding matrix —; then config.json and
// generation_config.json get the tokenizer's bos/eos/pad ids, the EOS set
// including the chat template's end-of-turn token and, with a donor, the
// model's own EOS (its weights end answers with it). Weights are hard-linked
// where the file system allows, else copied; out appears only when
// complete.
func AlignSpecial(dir, donor, out string, opt AlignOptions) (*AlignResult, error) {
	m, err := LoadModelFiles(dir)
	if err != nil {
		return nil, err
	}
	res := &AlignResult{}
	src := m
	if donor != "" {
		d, err := LoadModelFiles(donor)
		if err != nil {
			return nil, err
		}
		if err := compatible(m, d); err != nil {
			return nil, err
		}
		if err := templateChoice(m, d, opt.TakeTemplateFrom); err != nil {
			return nil, err
		}
		src = d
		res.Changes = append(res.Changes, "tokenizer files taken from "+donor)
		if m.ChatTemplate != d.ChatTemplate {
			res.Changes = append(res.Changes, "chat template taken from "+map[string]string{"donor": donor, "model": dir}[opt.TakeTemplateFrom])
		}
	}
	if src.Tokenizer == nil {
		return nil, fmt.Errorf("align: %s has no tokenizer.json", src.Dir)
	}
	o, err := outdir.Create(out, outdir.Options{Inputs: []string{dir, donor}, Overwrite: opt.Overwrite,
		Tool: "gomerge tokensurgeon --align-special", Logger: opt.Logger})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			o.Abort()
		}
	}()
	tmp := o.Tmp()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || donor != "" && slices.Contains(tokenizerFiles, e.Name()) {
			continue
		}
		if err := linkOrCopy(filepath.Join(dir, e.Name()), filepath.Join(tmp, e.Name())); err != nil {
			return nil, err
		}
	}
	if donor != "" {
		for _, name := range tokenizerFiles {
			p := filepath.Join(donor, name)
			if _, err := os.Stat(p); err == nil {
				if err := outdir.CopyFile(p, filepath.Join(tmp, name)); err != nil {
					return nil, err
				}
			}
		}
	}
	if donor != "" && opt.TakeTemplateFrom == "model" {
		if err := keepTemplate(tmp, m); err != nil {
			return nil, err
		}
	}
	// The model's weights end answers with its own EOS: a donor's
	// tokenizer must not take that stop away.
	var keepEOS []int
	if donor != "" {
		if id, ok := m.Vocab[m.TokenOf("eos")]; ok {
			keepEOS = append(keepEOS, id)
		}
	}
	changes, warnings, err := alignFiles(tmp, keepEOS)
	if err != nil {
		return nil, err
	}
	res.Changes = append(res.Changes, changes...)
	res.Warnings = warnings
	if err := o.Commit(); err != nil {
		return nil, err
	}
	ok = true
	return res, nil
}

// compatible checks that the donor's tokenizer can serve the model's
// embedding rows as they are, and loses none of the model's tokens.
func compatible(m, d *ModelFiles) error {
	if d.Tokenizer == nil {
		return refusef("align: donor %s has no tokenizer.json", d.Dir)
	}
	var lost []string
	for t, id := range m.Vocab {
		if _, ok := d.Vocab[t]; !ok {
			lost = append(lost, fmt.Sprintf("%q (%d)", t, id))
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return refusef("align: the donor's tokenizer lacks %d of %s's tokens, e.g. %s: taking it would orphan their embedding rows; "+
			"merge with tokenizer_source: union, or transplant with gomerge tokensurgeon %s %s OUT", len(lost), m.Dir, strings.Join(lost[:min(3, len(lost))], ", "), m.Dir, d.Dir)
	}
	var moved []string
	for t, id := range d.Vocab {
		if j, ok := m.Vocab[t]; ok && j != id {
			moved = append(moved, fmt.Sprintf("%q (%d vs %d)", t, j, id))
		}
	}
	if len(moved) > 0 {
		slices.Sort(moved)
		return refusef("align: %d tokens have other ids in the donor's tokenizer, e.g. %s: the embeddings must be transplanted, not just the files", len(moved), moved[0])
	}
	if rows := d.VocabRows(); m.EmbedRows >= 0 && int64(rows) > m.EmbedRows {
		return refusef("align: the donor's tokenizer has ids up to %d but %s has %d rows: the embeddings must be resized", rows-1, m.EmbedName, m.EmbedRows)
	}
	return nil
}

// rewriteIDs sets bos/eos/pad ids in a JSON config file, creating
// generation_config.json when create is set. eos is written as an int when
// it has one id, else as a list.
func rewriteIDs(path string, ids map[string]int, eos []int, create bool) ([]string, error) {
	cfg, err := readJSONObject(path)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		if !create || len(eos) == 0 {
			return nil, nil
		}
		cfg = map[string]any{}
	}
	name := filepath.Base(path)
	var changes []string
	set := func(key string, v any) {
		old, had := cfg[key]
		if had && fmt.Sprint(old) == fmt.Sprint(v) {
			return
		}
		cfg[key] = v
		if !had {
			old = "unset"
		}
		changes = append(changes, fmt.Sprintf("%s: %s %v -> %v", name, key, old, v))
	}
	for _, role := range []string{"bos", "pad"} {
		if id, ok := ids[role]; ok {
			if _, had := cfg[role+"_token_id"]; had || role == "bos" && create {
				set(role+"_token_id", id)
			}
		}
	}
	switch len(eos) {
	case 0:
	case 1:
		set("eos_token_id", eos[0])
	default:
		set("eos_token_id", eos)
	}
	if len(changes) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	// A hard-linked file must not be written through: replace it.
	os.Remove(path)
	return changes, writeSynced(path, buf.Bytes())
}

// writeSynced writes a file and flushes it to disk.
func writeSynced(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

func linkOrCopy(src, dst string) error {
	if strings.HasSuffix(src, ".json") {
		return outdir.CopyFile(src, dst) // small and perhaps rewritten: never share
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return outdir.CopyFile(src, dst)
}

// templateChoice refuses a donor whose chat template differs from the
// model's unless the caller chose one.
func templateChoice(m, d *ModelFiles, choice string) error {
	switch choice {
	case "", "donor", "model":
	default:
		return refusef("align: --take-template-from %q: want donor or model", choice)
	}
	if m.ChatTemplate == d.ChatTemplate || m.ChatTemplate == "" || choice != "" {
		return nil
	}
	what := func(f *ModelFiles) string {
		if f.ChatTemplate == "" {
			return "has no chat template"
		}
		if end := turnEnd(f.ChatTemplate); end != "" {
			return "ends turns with " + end
		}
		return "has another chat template"
	}
	return refusef("align: the chat templates differ (%s %s, the donor %s %s): "+
		"pass --take-template-from donor to use the donor's, or --take-template-from model to keep the model's",
		m.Dir, what(m), d.Dir, what(d))
}

// keepTemplate puts the model's own chat template back over the donor's
// tokenizer files in dir.
func keepTemplate(dir string, m *ModelFiles) error {
	for _, name := range []string{"chat_template.jinja", "chat_template.json"} {
		os.Remove(filepath.Join(dir, name))
		if src := filepath.Join(m.Dir, name); fileExists(src) {
			if err := outdir.CopyFile(src, filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	path := filepath.Join(dir, "tokenizer_config.json")
	tc, err := readJSONObject(path)
	if err != nil || tc == nil {
		return err
	}
	if v, ok := m.TokenizerConfig["chat_template"]; ok {
		tc["chat_template"] = v
	} else {
		delete(tc, "chat_template")
	}
	// The template writes bos_token and eos_token: keep the model's, or
	// the kept template would end turns with the donor's EOS, which the
	// model never learned to emit.
	for _, role := range []string{"bos", "eos"} {
		if v, ok := m.TokenizerConfig[role+"_token"]; ok && m.TokenOf(role) != "" {
			tc[role+"_token"] = v
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tc); err != nil {
		return err
	}
	os.Remove(path)
	return writeSynced(path, buf.Bytes())
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
