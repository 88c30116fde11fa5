package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/merge"
)

// planReachTimeout is how long gomerge plan waits for the hub's answer
// about a model the cache lacks (HF_HUB_ETAG_TIMEOUT when set): plan asks
// once and goes on, so that a config of hub models checks in seconds
// without a network.
const planReachTimeout = 5 * time.Second

// configProblem is one problem of a config, for plan --json.
type configProblem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
	// Model is the model the problem is about, if it is one.
	Model string `json:"model,omitempty"`
	// NotFound: the model was not found (no such directory, not in the
	// Hugging Face cache and not on the hub, or the hub did not answer).
	NotFound bool `json:"not_found,omitempty"`
}

// configFailure is what plan --json prints when the config has problems.
type configFailure struct {
	Errors []configProblem `json:"errors"`
	// Unresolved lists the models that were not found, in config order.
	Unresolved []string `json:"unresolved_models,omitempty"`
	Hint       string   `json:"hint,omitempty"`
}

// leafErrors flattens errors.Join trees into their leaves, config
// problems in the order of their YAML lines.
func leafErrors(err error) []error {
	out := flatten(err)
	slices.SortStableFunc(out, func(a, b error) int {
		var ca, cb *merge.ConfigError
		if !errors.As(a, &ca) || !errors.As(b, &cb) || ca.File != cb.File {
			return 0
		}
		return cmp.Or(cmp.Compare(ca.Pos.Line, cb.Pos.Line), cmp.Compare(ca.Pos.Column, cb.Pos.Column))
	})
	return out
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// describeFailure lists each problem of a failed plan and the models that
// were not found.
func describeFailure(err error, f *mergeFlags) configFailure {
	var out configFailure
	for _, e := range leafErrors(err) {
		p := configProblem{Message: e.Error()}
		var ce *merge.ConfigError
		if errors.As(e, &ce) {
			p.File, p.Line, p.Column, p.Message = ce.File, ce.Pos.Line, ce.Pos.Column, ce.Msg
		}
		var me *merge.ModelError
		if errors.As(e, &me) {
			p.Model, p.NotFound = me.Ref.String(), me.NotFound
			if me.NotFound {
				out.Unresolved = append(out.Unresolved, p.Model)
			}
		}
		out.Errors = append(out.Errors, p)
	}
	if len(out.Unresolved) > 0 {
		out.Hint = notFoundHint(err, f)
	}
	return out
}

// notFoundHint says what to do about models that were not found, by what
// happened: --offline given, HF_HUB_OFFLINE set, the hub unreachable.
func notFoundHint(err error, f *mergeFlags) string {
	var hints []string
	if errors.Is(err, hub.ErrNotCached) {
		for _, v := range []string{"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"} {
			if val := os.Getenv(v); val != "" && val != "0" && !strings.EqualFold(val, "false") {
				hints = append(hints, fmt.Sprintf("%s=%s is set in the environment, so only the Hugging Face cache was searched: unset it to ask the hub", v, val))
			}
		}
		if f != nil && f.offline {
			hints = append(hints, "--offline was given, so only the Hugging Face cache was searched: drop it to ask the hub")
		}
	}
	if errors.Is(err, hub.ErrUnreachable) {
		hints = append(hints, "the hub did not answer: download the models where there is a network (hf download ORG/NAME) and copy the cache here, or point HF_HUB_CACHE (--transformers-cache) at a cache that has them")
	}
	if errors.Is(err, merge.ErrModelNotFound) {
		hints = append(hints, "model paths resolve against the current directory, as in mergekit")
	}
	return strings.Join(hints, "; ")
}

// configFailed reports the error of planning a config, one line per
// problem and a summary of the models that were not found (as JSON on
// stdout with asJSON), and returns the exit code.
func configFailed(ctx context.Context, stdout, stderr io.Writer, err error, f *mergeFlags, asJSON bool) int {
	if ctx.Err() != nil {
		return failure(ctx, stderr, err, exitUsage)
	}
	d := describeFailure(err, f)
	if asJSON {
		printJSON(stdout, d)
	}
	for _, e := range leafErrors(err) {
		fmt.Fprintln(stderr, "gomerge:", e)
	}
	if n := len(d.Unresolved); n > 0 {
		fmt.Fprintf(stderr, "gomerge: %d %s not found: %s\n", n, plural(n, "model was", "models were"), strings.Join(d.Unresolved, ", "))
	}
	if d.Hint != "" {
		fmt.Fprintln(stderr, "gomerge: hint:", d.Hint)
	}
	return exitUsage
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
