package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/internal/outdir"
)

const convertUsage = `usage: gomerge convert-llama2c MODEL.bin OUT [--tokenizer TOK.bin]

Convert a llama2.c checkpoint (Karpathy's run.c format, e.g. stories260K.bin)
into a Hugging Face Llama directory: config.json, model.safetensors and, with
--tokenizer (default: tok*.bin or tokenizer.bin next to MODEL.bin), a
SentencePiece tokenizer.model and tokenizer_config.json.

examples:
  gomerge convert-llama2c testdata/stories260K/stories260K.bin /tmp/stories
  gomerge convert-llama2c model.bin ./hf --tokenizer tok512.bin
`

func runConvert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge convert-llama2c", flag.ContinueOnError)
	setUsage(fs, stderr, convertUsage)
	tok := fs.String("tokenizer", "", "llama2.c tokenizer file")
	overwrite := fs.Bool("overwrite", false, "replace an existing OUT that gomerge did not write (inputs are never replaced)")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 2 {
		fmt.Fprint(stderr, convertUsage)
		return exitUsage
	}
	bin, out := pos[0], pos[1]
	if *tok == "" {
		for _, pat := range []string{"tok*.bin", "tokenizer.bin"} {
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), pat)); len(m) > 0 && m[0] != bin {
				*tok = m[0]
				break
			}
		}
	}
	// The model is written into a staging directory that replaces OUT
	// only when complete.
	d, err := outdir.Create(out, outdir.Options{Inputs: []string{bin, *tok}, Overwrite: *overwrite,
		Tool: "gomerge convert-llama2c", Version: versionString(), Logger: newLogger(stderr, 0)})
	if err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	defer d.Abort()
	if err := convertInto(d.Tmp(), bin, *tok); err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	if err := d.Commit(); err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	fmt.Fprintf(stderr, "gomerge: wrote %s\n", out)
	return exitOK
}

// convertInto writes the converted checkpoint, and its tokenizer when tok
// is set, into dir.
func convertInto(dir, bin, tok string) error {
	if err := model.ConvertLlama2C(bin, dir); err != nil {
		return err
	}
	if tok == "" {
		return nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return err
	}
	var cfg struct {
		Vocab int `json:"vocab_size"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	return model.ConvertLlama2CTokenizer(tok, dir, cfg.Vocab)
}
