package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gomerge/gomerge/tokensurgeon"
)

const surgeonUsage = `usage: gomerge tokensurgeon --align-special MODEL [DONOR] OUT [--json]

--align-special writes a copy of MODEL whose special tokens agree across
config.json, generation_config.json and the tokenizer files (the EOS set
includes the chat template's end-of-turn token), without touching a weight.
With DONOR, the donor's tokenizer files and chat template are taken first;
this is refused when the donor's vocabulary would need other embedding rows.
`

func runTokensurgeon(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge tokensurgeon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, surgeonUsage); fs.PrintDefaults() }
	align := fs.Bool("align-special", false, "align special tokens across files; weights untouched")
	jsonOut := fs.Bool("json", false, "print the changes as JSON")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if !*align {
		fmt.Fprintln(stderr, "gomerge tokensurgeon: only --align-special is available in this build; transplanting embeddings onto another vocabulary (omp, subword, ...) is not implemented yet")
		return exitUsage
	}
	var model, donor, out string
	switch len(pos) {
	case 2:
		model, out = pos[0], pos[1]
	case 3:
		model, donor, out = pos[0], pos[1], pos[2]
	default:
		fmt.Fprint(stderr, surgeonUsage)
		return exitUsage
	}
	res, err := tokensurgeon.AlignSpecial(model, donor, out)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitFailed
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
		return exitOK
	}
	for _, c := range res.Changes {
		fmt.Fprintln(stdout, c)
	}
	fmt.Fprintf(stderr, "gomerge: wrote %s (%d change(s))\n", out, len(res.Changes))
	return exitOK
}
