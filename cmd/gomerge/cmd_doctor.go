package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gomerge/gomerge/tokensurgeon"
)

const doctorUsage = `usage: gomerge doctor MODEL... [--json]

Check the token side of each model directory (special-token ids in
config.json, generation_config.json and the tokenizer files, the chat
template, vocabulary against embedding rows) and, with several models, what
differs between them. Files the other commands refuse are error findings:
token ids that are negative, huge, not integers or given twice, an empty
vocabulary, a file too large or not JSON, a special token that is not a
string, a chat template whose Jinja structure does not parse (a structural
check of tags and delimiters). The chat template is also rendered (as
gomerge chat renders it) on a user/assistant exchange and tokenized with the
model's tokenizer: the token that ends the assistant's turn must be one
generation stops on (generation_config.json's eos_token_id, else
config.json's, else the tokenizer's), the trap of Llama-3 (turns end with
128009, generation stopped at 128001) and of ChatML fine-tunes of Mistral
(<|im_end|> 32000, eos 2). Each finding comes with the fix. Exit status 1 when an error is found, 0 when only warnings or
nothing.

examples:
  gomerge doctor ./LeoLM-chat
  gomerge doctor ./ft-chatml ./ft-inst ./base --json
  gomerge doctor ./merged   # after a merge: no findings unless the merge warned
`

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge doctor", flag.ContinueOnError)
	setUsage(fs, stderr, doctorUsage)
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) == 0 {
		fmt.Fprint(stderr, doctorUsage)
		return exitUsage
	}
	r, err := tokensurgeon.Diagnose(pos...)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	if *jsonOut {
		printJSON(stdout, r)
	} else {
		printReport(stdout, r)
	}
	if r.Errors() > 0 {
		return exitFailed
	}
	return exitOK
}

func printReport(w io.Writer, r *tokensurgeon.Report) {
	if len(r.Findings) == 0 {
		fmt.Fprintf(w, "no problems found in %d model(s)\n", len(r.Models))
		return
	}
	last := ""
	for _, f := range r.Findings {
		if f.Model != last {
			fmt.Fprintln(w, f.Model)
			last = f.Model
		}
		fmt.Fprintf(w, "  %-7s %s: %s\n", f.Severity, f.Check, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "          fix: %s\n", f.Fix)
		}
	}
	fmt.Fprintf(w, "%d error(s), %d warning(s)\n", r.Errors(), len(r.Findings)-r.Errors())
}
