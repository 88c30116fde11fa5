package tokensurgeon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
)

// tokenizerFiles are the files a donor's tokenizer consists of.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
	"added_tokens.json", "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt"}

// AlignResult says what AlignSpecial changed.
type AlignResult struct {
	// Changes are human-readable lines, one per edit.
	Changes []string `json:"changes"`
}

// AlignSpecial writes to out a copy of the model in dir whose special
// tokens agree across every file, without touching a weight: with a donor,
// the donor's tokenizer files (and chat template) replace the model's —
// allowed only when every token the two share has the same id and every
// donor id fits the embedding matrix —; then config.json and
// generation_config.json get the tokenizer's bos/eos/pad ids, the EOS set
// including the chat template's end-of-turn token. Weights are hard-linked
// where the file system allows, else copied; out appears only when
// complete.
func AlignSpecial(dir, donor, out string) (*AlignResult, error) {
	m, err := LoadModelFiles(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(out); err == nil {
		return nil, fmt.Errorf("align: %s already exists", out)
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
		src = d
		res.Changes = append(res.Changes, "tokenizer files taken from "+donor)
	}
	if src.Tokenizer == nil {
		return nil, fmt.Errorf("align: %s has no tokenizer.json", src.Dir)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(out)), "."+filepath.Base(out)+".partial-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
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
				if err := copyFile(p, filepath.Join(tmp, name)); err != nil {
					return nil, err
				}
			}
		}
	}
	fixed, err := LoadModelFiles(tmp)
	if err != nil {
		return nil, err
	}
	ids := map[string]int{}
	for _, role := range []string{"bos", "eos", "pad"} {
		if id, ok := fixed.Vocab[fixed.TokenOf(role)]; ok {
			ids[role] = id
		}
	}
	eos := []int{}
	if id, ok := ids["eos"]; ok {
		eos = append(eos, id)
	}
	if end := turnEnd(fixed.ChatTemplate); end != "" {
		if id, ok := fixed.Vocab[end]; ok && !slices.Contains(eos, id) {
			eos = append(eos, id)
		}
	}
	for _, name := range []string{"config.json", "generation_config.json"} {
		changes, err := rewriteIDs(filepath.Join(tmp, name), ids, eos, name == "generation_config.json")
		if err != nil {
			return nil, err
		}
		res.Changes = append(res.Changes, changes...)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	ok = true
	return res, nil
}

// compatible checks that the donor's tokenizer can serve the model's
// embedding rows as they are.
func compatible(m, d *ModelFiles) error {
	if d.Tokenizer == nil {
		return fmt.Errorf("align: donor %s has no tokenizer.json", d.Dir)
	}
	var moved []string
	for t, id := range d.Vocab {
		if j, ok := m.Vocab[t]; ok && j != id {
			moved = append(moved, fmt.Sprintf("%q (%d vs %d)", t, j, id))
		}
	}
	if len(moved) > 0 {
		slices.Sort(moved)
		return fmt.Errorf("align: %d tokens have other ids in the donor's tokenizer, e.g. %s: the embeddings must be transplanted, not just the files", len(moved), moved[0])
	}
	if rows := d.VocabRows(); m.EmbedRows >= 0 && int64(rows) > m.EmbedRows {
		return fmt.Errorf("align: the donor's tokenizer has ids up to %d but %s has %d rows: the embeddings must be resized", rows-1, m.EmbedName, m.EmbedRows)
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
	return changes, os.WriteFile(path, buf.Bytes(), 0o644)
}

func linkOrCopy(src, dst string) error {
	if strings.HasSuffix(src, ".json") {
		return copyFile(src, dst) // small and perhaps rewritten: never share
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyFile(src, dst)
}

func copyFile(src, dst string) error {
	in, err := regfile.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return errors.Join(out.Sync(), out.Close())
}
