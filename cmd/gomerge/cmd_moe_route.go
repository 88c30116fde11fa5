package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/tokenizer"
)

const moeRouteUsage = `usage: gomerge moe route MODEL (--prompt TEXT | --ids 1,2,3) [--no-special] [--json]

Runs the prompt through the mixture of experts in directory MODEL and shows
how each sparse layer routed it: for the last token, the experts chosen and
their weights (after renormalisation, where the model renormalises), and for
every expert how many of the prompt's tokens were sent to it. The prompt is
tokenized with MODEL's tokenizer (tokenizer.json or tokenizer.model), with
its special tokens (such as BOS) unless --no-special; --ids gives token ids
instead. --json prints every token's experts, weights and router
probabilities.

examples:
  gomerge moe route ./my-moe --prompt "Wie spät ist es?"
  gomerge moe route ./my-moe --ids 1,450,4996 --json
`

// moeRouteReport is the --json output of `gomerge moe route`.
type moeRouteReport struct {
	Model           string          `json:"model"`
	Family          string          `json:"family"`
	Experts         int             `json:"experts"`
	ExpertsPerToken int             `json:"experts_per_token"`
	IDs             []int           `json:"ids"`
	Tokens          []string        `json:"tokens,omitempty"`
	Layers          []moeRouteLayer `json:"layers"`
}

type moeRouteLayer struct {
	Layer int `json:"layer"`
	// Counts[j] is how many tokens have expert j among their chosen ones.
	Counts  []int       `json:"counts"`
	Experts [][]int     `json:"experts"`
	Weights [][]float32 `json:"weights"`
	Probs   [][]float32 `json:"probs"`
}

// runMoERoute is `gomerge moe route`.
func runMoERoute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge moe route", flag.ContinueOnError)
	fs.SetOutput(stderr)
	setUsage(fs, stderr, moeRouteUsage)
	prompt := fs.String("prompt", "", "text to route")
	idList := fs.String("ids", "", "comma-separated token ids to route instead of a prompt")
	noSpecial := fs.Bool("no-special", false, "do not add the tokenizer's special tokens")
	asJSON := fs.Bool("json", false, "print every token's routing as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 1 || (*prompt == "") == (*idList == "") {
		fmt.Fprint(stderr, moeRouteUsage)
		return exitUsage
	}
	dir := pos[0]
	fail := func(err error) int {
		fmt.Fprintln(stderr, "gomerge moe route:", err)
		return exitFailed
	}
	m, err := model.Open(dir, model.Options{})
	if err != nil {
		return fail(err)
	}
	E, K := m.NumExperts()
	if E == 0 {
		return fail(fmt.Errorf("%s: %s is not a mixture of experts", dir, m.Family()))
	}
	var ids []int
	var tk *tokenizer.Tokenizer
	if *idList != "" {
		if ids, err = parseIDs(*idList); err != nil {
			return fail(err)
		}
	} else {
		if tk, err = tokenizer.Load(dir); err != nil {
			return fail(fmt.Errorf("%s: %w (give --ids instead)", dir, err))
		}
		if ids = tk.Encode(*prompt, !*noSpecial); len(ids) == 0 {
			return fail(fmt.Errorf("the prompt %q has no tokens", *prompt))
		}
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	routes, err := m.Route(ids)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", dir, err))
	}
	rep := moeRouteReport{Model: dir, Family: m.Family(), Experts: E, ExpertsPerToken: K, IDs: ids}
	if tk != nil {
		rep.Tokens = tk.Tokens(ids)
	}
	for _, r := range routes {
		l := moeRouteLayer{Layer: r.Layer, Counts: make([]int, E), Experts: r.Experts, Weights: r.Weights, Probs: r.Probs}
		for _, ex := range r.Experts {
			for _, j := range ex {
				l.Counts[j]++
			}
		}
		rep.Layers = append(rep.Layers, l)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail(err)
		}
		return exitOK
	}
	if err := printMoERoute(stdout, &rep); err != nil {
		return fail(err)
	}
	return exitOK
}

// printMoERoute writes the text report: one line per sparse layer.
func printMoERoute(w io.Writer, rep *moeRouteReport) error {
	last := len(rep.IDs) - 1
	tok := strconv.Itoa(rep.IDs[last])
	if rep.Tokens != nil {
		tok = strconv.Quote(rep.Tokens[last])
	}
	fmt.Fprintf(w, "%s: %s, %d experts, %d per token; %d tokens, the last %s\n",
		rep.Model, rep.Family, rep.Experts, rep.ExpertsPerToken, len(rep.IDs), tok)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tlast token: expert (weight)\ttokens per expert")
	for _, l := range rep.Layers {
		var chosen, counts []string
		for i, j := range l.Experts[last] {
			chosen = append(chosen, fmt.Sprintf("%d (%.3f)", j, l.Weights[last][i]))
		}
		for j, n := range l.Counts {
			counts = append(counts, fmt.Sprintf("%d:%d", j, n))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", l.Layer, strings.Join(chosen, " "), strings.Join(counts, " "))
	}
	return tw.Flush()
}

// parseIDs reads comma-separated token ids.
func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || id < 0 {
			return nil, fmt.Errorf("--ids: %q is not a token id", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
