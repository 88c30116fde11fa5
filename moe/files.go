package moe

import (
	"github.com/gomerge/gomerge/internal/outdir"

	"github.com/gomerge/gomerge/internal/regfile"

	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/tokenizer"
)

// tokenizerFiles are the tokenizer files copied from the base.
var tokenizerFiles = []string{
	"tokenizer.json", "tokenizer.model", "special_tokens_map.json", "added_tokens.json",
	"vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json",
}

// writeSideFiles writes config.json, mergekit_moe_config.yml and the
// tokenizer files into dir.
func (pl *Plan) writeSideFiles(dir string, opt Options) error {
	cfg, err := pl.ConfigJSON()
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "config.json"), cfg); err != nil {
		return err
	}
	if opt.WriteConfigYAML {
		if err := writeFile(filepath.Join(dir, "mergekit_moe_config.yml"), pl.Config.Raw); err != nil {
			return err
		}
	}
	if opt.CopyTokenizer {
		return pl.copyTokenizer(dir, opt)
	}
	return nil
}

// copyTokenizer copies the base's tokenizer as mergekit-moe saves it
// (tokenizer_config.json with padding_side "left" and the pad token set
// to BOS, else EOS) and writes a generation_config.json whose EOS is the
// tokenizer's, which mergekit leaves out.
func (pl *Plan) copyTokenizer(dir string, opt Options) error {
	src := pl.Base.Dir
	if !hasTokenizerFiles(src) {
		opt.logger().Info("no tokenizer copied: the base model has none", "model", pl.Base.Ref.String())
		return nil
	}
	for _, name := range tokenizerFiles {
		if err := copyFile(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("copy tokenizer file %s: %w", name, err)
		}
	}
	tok, err := tokenizer.Load(src)
	if err != nil {
		return fmt.Errorf("base model %s: %w", pl.Base.Ref.String(), err)
	}
	sp := tok.Special()
	pad := sp.BOS
	if !pad.Found {
		pad = sp.EOS
	}
	if raw, err := regfile.ReadFile(filepath.Join(src, "tokenizer_config.json"), regfile.ConfigLimit); err == nil {
		var tc map[string]json.RawMessage
		if err := json.Unmarshal(raw, &tc); err != nil {
			return fmt.Errorf("base model %s: tokenizer_config.json: %w", pl.Base.Ref.String(), err)
		}
		tc["padding_side"] = json.RawMessage(`"left"`)
		if pad.Token != "" {
			tc["pad_token"], _ = json.Marshal(pad.Token)
		}
		b, err := json.MarshalIndent(tc, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, "tokenizer_config.json"), append(b, '\n')); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return pl.writeGenerationConfig(dir, sp)
}

// writeGenerationConfig writes the base's generation_config.json (or a
// new one from config.json's token ids) with eos_token_id holding the
// tokenizer's EOS, so generation stops where the tokenizer says.
func (pl *Plan) writeGenerationConfig(dir string, sp tokenizer.SpecialTokens) error {
	gc := map[string]any{}
	if raw, err := regfile.ReadFile(filepath.Join(pl.Base.Dir, "generation_config.json"), regfile.ConfigLimit); err == nil {
		if err := json.Unmarshal(raw, &gc); err != nil {
			return fmt.Errorf("base model %s: generation_config.json: %w", pl.Base.Ref.String(), err)
		}
	} else {
		for _, k := range []string{"bos_token_id", "eos_token_id", "pad_token_id"} {
			if v, ok := pl.Base.Config[k]; ok && v != nil {
				gc[k] = v
			}
		}
	}
	if sp.EOS.Found && !holdsID(gc["eos_token_id"], sp.EOS.ID) {
		switch v := gc["eos_token_id"].(type) {
		case []any:
			gc["eos_token_id"] = append([]any{sp.EOS.ID}, v...)
		case nil:
			gc["eos_token_id"] = sp.EOS.ID
		default:
			gc["eos_token_id"] = []any{sp.EOS.ID, v}
		}
	}
	if sp.BOS.Found {
		gc["bos_token_id"] = sp.BOS.ID
	}
	b, err := json.MarshalIndent(gc, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "generation_config.json"), append(b, '\n'))
}

// holdsID reports whether a JSON token id field (a number or a list)
// holds id.
func holdsID(v any, id int) bool {
	switch v := v.(type) {
	case float64:
		return int(v) == id
	case json.Number:
		n, err := v.Int64()
		return err == nil && int(n) == id
	case []any:
		for _, x := range v {
			if holdsID(x, id) {
				return true
			}
		}
	}
	return false
}

func writeFile(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyFile copies src to dst; a missing src is not an error.
func copyFile(src, dst string) error {
	if err := outdir.CopyFile(src, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
