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
)

const convertUsage = `usage: gomerge convert-llama2c MODEL.bin OUT [--tokenizer TOK.bin]

Convert a llama2.c checkpoint (Karpathy's run.c format, e.g. stories260K.bin)
into a Hugging Face Llama directory: config.json, model.safetensors and, with
--tokenizer (default: tok*.bin or tokenizer.bin next to MODEL.bin), a
SentencePiece tokenizer.model and tokenizer_config.json.
`

func runConvert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge convert-llama2c", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, convertUsage); fs.PrintDefaults() }
	tok := fs.String("tokenizer", "", "llama2.c tokenizer file")
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
	if err := model.ConvertLlama2C(bin, out); err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitFailed
	}
	if *tok == "" {
		for _, pat := range []string{"tok*.bin", "tokenizer.bin"} {
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), pat)); len(m) > 0 && m[0] != bin {
				*tok = m[0]
				break
			}
		}
	}
	if *tok != "" {
		raw, err := os.ReadFile(filepath.Join(out, "config.json"))
		if err != nil {
			fmt.Fprintln(stderr, "gomerge:", err)
			return exitFailed
		}
		var cfg struct {
			Vocab int `json:"vocab_size"`
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			fmt.Fprintln(stderr, "gomerge:", err)
			return exitFailed
		}
		if err := model.ConvertLlama2CTokenizer(*tok, out, cfg.Vocab); err != nil {
			fmt.Fprintln(stderr, "gomerge:", err)
			return exitFailed
		}
	}
	fmt.Fprintf(stderr, "gomerge: wrote %s\n", out)
	return exitOK
}
