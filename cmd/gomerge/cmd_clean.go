package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gomerge/gomerge/internal/outdir"
)

const cleanUsage = `usage: gomerge clean OUT... [--json]

Recovers what interrupted runs writing to OUT left beside it: a commit cut
off between its renames is finished (or the previous output put back), and
hidden .OUT.partial-* staging directories whose writer is gone are removed.
Directories of runs still writing are kept. Every gomerge command that
writes OUT does the same before it starts; this does it on its own.

examples:
  gomerge clean ./out
  gomerge clean ./out ./out2 --json
`

// cleanResult is one OUT's recovery, for --json.
type cleanResult struct {
	Out     string          `json:"out"`
	Actions []outdir.Action `json:"actions"`
	Error   string          `json:"error,omitempty"`
}

func runClean(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge clean", flag.ContinueOnError)
	setUsage(fs, stderr, cleanUsage)
	jsonOut := fs.Bool("json", false, "print what was done as JSON")
	var verbose counter
	verbosity(fs, &verbose)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) == 0 {
		fmt.Fprint(stderr, cleanUsage)
		return exitUsage
	}
	log := newLogger(stderr, int(verbose))
	code := exitOK
	var results []cleanResult
	for _, out := range pos {
		acts, err := outdir.Clean(out, log)
		r := cleanResult{Out: out, Actions: acts}
		if r.Actions == nil {
			r.Actions = []outdir.Action{}
		}
		if err != nil {
			r.Error = err.Error()
			fmt.Fprintln(stderr, "gomerge:", err)
			code = exitFailed
			if errors.Is(err, outdir.ErrRefused) {
				code = exitUsage
			}
		}
		results = append(results, r)
		if !*jsonOut && err == nil {
			if len(acts) == 0 {
				fmt.Fprintf(stderr, "gomerge: %s: nothing to recover\n", out)
			}
			for _, a := range acts {
				fmt.Fprintf(stdout, "%s: %s\n", a.Path, a.Did)
			}
		}
	}
	if *jsonOut {
		printJSON(stdout, results)
	}
	return code
}
