package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"unicode/utf8"
)

// Options tune Score. The zero value scores every document with lm-eval's
// defaults.
type Options struct {
	// Limit scores only the first Limit documents of each task (0: all), as
	// lm-eval's --limit.
	Limit int
	// PerItem keeps every document's scores in the report.
	PerItem bool
	// AddBOS puts the tokenizer's BOS in front of every text encoding
	// except an empty-context continuation, as a tokenizer with
	// add_bos_token does (Llama's, for one); lm-eval uses the tokenizer's
	// default.
	AddBOS bool
	// PrefixToken overrides the token that conditions the first token of a
	// perplexity document and stands in for an empty context (lm-eval's
	// prefix_token_id; default BOS, else EOS).
	PrefixToken *int
	// BatchSize is how many requests go to the LM in one call (default 64).
	BatchSize int
	// Progress, when set, is called after each batch.
	Progress func(task string, done, total int)
	// Logger receives one line per task (default: discard).
	Logger *slog.Logger
	// SampleLog, when set, is asked once per task for the writer that
	// receives the task's per-sample log (lm-eval's --log_samples JSONL).
	SampleLog func(task string) (io.Writer, error)
}

// Report is the result of Score; it marshals to JSON.
type Report struct {
	// Harness says whose semantics the numbers follow.
	Harness string `json:"harness"`
	Model   string `json:"model,omitempty"`
	// BF16Dot says the model scored with bfloat16 products
	// (model.Options.BF16Dot): its numbers differ from float32 scoring's
	// in the low digits.
	BF16Dot bool         `json:"bf16_dot,omitempty"`
	Tasks   []TaskReport `json:"tasks"`
}

// Harness is recorded in every Report: scores are only comparable between
// evaluators with the same semantics.
const Harness = "gomerge/eval, lm-evaluation-harness semantics (4e7e0d4)"

// TaskReport holds one task's metrics.
type TaskReport struct {
	Name string   `json:"name"`
	Type TaskType `json:"output_type"`
	// Docs is the number of documents scored.
	Docs int `json:"docs"`
	// Metrics maps a metric name (acc, acc_norm, word_perplexity, …) to its
	// value; Stderr holds the standard errors lm-eval reports for them
	// (sample stddev / √n for the accuracies; none for perplexities, which
	// the harness reports as N/A).
	Metrics map[string]float64 `json:"metrics"`
	Stderr  map[string]float64 `json:"stderr,omitempty"`
	// Tokens is the number of tokens scored (perplexity tasks).
	Tokens int `json:"tokens,omitempty"`
	// Filters names a generate_until task's filters in order.
	Filters []string `json:"filters,omitempty"`
	// Items is filled when Options.PerItem is set.
	Items []ItemResult `json:"items,omitempty"`
}

// Metric returns a metric by name; lm-eval's filtered form ("acc,none")
// is accepted too. A generate_until task's metrics carry their filter
// ("exact_match,flexible-extract"); the bare name is its first filter's.
func (r *TaskReport) Metric(name string) (float64, bool) {
	if v, ok := r.Metrics[name]; ok {
		return v, true
	}
	base, _, _ := strings.Cut(name, ",")
	if v, ok := r.Metrics[base]; ok {
		return v, true
	}
	if base == name {
		for _, k := range r.Filters {
			if v, ok := r.Metrics[name+","+k]; ok {
				return v, true
			}
		}
	}
	return 0, false
}

// ItemResult is one document's scores.
type ItemResult struct {
	Doc int `json:"doc"`
	// LogLikelihood and Tokens: for a perplexity document, Σ log p(token i |
	// tokens < i) over tokens 2..n of [prefix]+tokens (or of ids) and how
	// many tokens that is; Words and Bytes are counted as lm-eval counts
	// them.
	// For a multiple-choice document Tokens is the sum over its choices.
	LogLikelihood *float64 `json:"loglikelihood,omitempty"`
	Tokens        int      `json:"tokens"`
	Words         int      `json:"words,omitempty"`
	Bytes         int      `json:"bytes,omitempty"`
	// Choices: for a multiple-choice document, each choice's result.
	Choices []Result `json:"choices,omitempty"`
	Gold    []int    `json:"gold,omitempty"`
	Pred    *int     `json:"pred,omitempty"`
	// Response is a generate_until document's generated answer (cut at
	// the stop strings); Filtered maps each filter to what it made of it.
	Response *string           `json:"response,omitempty"`
	Filtered map[string]string `json:"filtered,omitempty"`
	// Metrics are the document's values of the task's metrics (1 or 0).
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// Score runs tasks on lm and returns their metrics. tok may be nil when
// every perplexity task is pre-tokenized and lm scores multiple-choice
// text itself (a TextLM such as Endpoint).
func Score(ctx context.Context, lm LM, tok Tokenizer, tasks []*Task, opt Options) (*Report, error) {
	if lm.MaxLength() < 1 {
		return nil, fmt.Errorf("eval: model max length %d", lm.MaxLength())
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 64
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rep := &Report{Harness: Harness}
	for _, t := range tasks {
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("task %s: %w", t.Name, err)
		}
		tr, err := scoreTask(ctx, lm, tok, t, &opt)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", t.Name, err)
		}
		log.Info("scored", "task", t.Name, "docs", tr.Docs, "metrics", tr.Metrics)
		rep.Tasks = append(rep.Tasks, *tr)
	}
	return rep, nil
}

// span locates one document's requests in a task's request list.
type span struct{ start, end int }

func scoreTask(ctx context.Context, lm LM, tok Tokenizer, t *Task, opt *Options) (*TaskReport, error) {
	docs := t.Docs
	if opt.Limit > 0 && opt.Limit < len(docs) {
		docs = docs[:opt.Limit]
	}
	var (
		reqs  []Request
		spans []span
		err   error
	)
	var log io.Writer
	if opt.SampleLog != nil {
		if log, err = opt.SampleLog(t.Name); err != nil {
			return nil, err
		}
	}
	switch t.Type {
	case Perplexity:
		reqs, spans, err = perplexityRequests(lm, tok, docs, opt)
	case GenerateUntil:
		return scoreGenerate(ctx, lm, tok, t, docs, opt, log)
	case MultipleChoice:
		if tlm, ok := lm.(TextLM); ok && tok == nil {
			return scoreText(ctx, tlm, t, docs, opt, log)
		}
		reqs, spans, err = choiceRequests(lm, tok, t, docs, opt)
	default:
		err = fmt.Errorf("unknown task type %q", t.Type)
	}
	if err != nil {
		return nil, err
	}
	res, err := run(ctx, lm, t.Name, reqs, opt)
	if err != nil {
		return nil, err
	}
	if t.Type == Perplexity {
		tr := perplexityReport(t, docs, res, spans, opt.PerItem)
		if log != nil {
			if err := logPerplexitySamples(log, t, docs, res, spans); err != nil {
				return nil, fmt.Errorf("sample log: %w", err)
			}
		}
		return tr, nil
	}
	return choiceReportLogged(t, docs, res, spans, opt.PerItem, log)
}

// choiceReportLogged is choiceReport, writing the sample log when there
// is one.
func choiceReportLogged(t *Task, docs []Doc, res []Result, spans []span, perItem bool, log io.Writer) (*TaskReport, error) {
	tr := choiceReport(t, docs, res, spans, perItem)
	if log != nil {
		ctxs, err := renderContexts(t, len(docs))
		if err != nil {
			return nil, err
		}
		if err := logChoiceSamples(log, t, docs, ctxs, res, spans); err != nil {
			return nil, fmt.Errorf("sample log: %w", err)
		}
	}
	return tr, nil
}

// run sends reqs to lm in batches.
func run(ctx context.Context, lm LM, task string, reqs []Request, opt *Options) ([]Result, error) {
	out := make([]Result, 0, len(reqs))
	for i := 0; i < len(reqs); i += opt.BatchSize {
		if err := ctx.Err(); err != nil { // for an LM that does not check it
			return nil, err
		}
		batch := reqs[i:min(i+opt.BatchSize, len(reqs))]
		res, err := lm.LogLikelihood(ctx, batch)
		if err != nil {
			return nil, err
		}
		if len(res) != len(batch) {
			return nil, fmt.Errorf("eval: LM answered %d of %d requests", len(res), len(batch))
		}
		if err := checkFinite(res, "task "+task, i); err != nil {
			return nil, err
		}
		out = append(out, res...)
		if opt.Progress != nil {
			opt.Progress(task, len(out), len(reqs))
		}
	}
	return out, nil
}

// checkFinite fails on the first result that is not a finite number;
// first numbers the results for the message.
func checkFinite(res []Result, what string, first int) error {
	for j, r := range res {
		if math.IsNaN(r.LogLikelihood) || math.IsInf(r.LogLikelihood, 0) {
			return fmt.Errorf("%w: %s, request %d: log-likelihood %v", ErrNotFinite, what, first+j, r.LogLikelihood)
		}
	}
	return nil
}

func perplexityRequests(lm LM, tok Tokenizer, docs []Doc, opt *Options) ([]Request, []span, error) {
	var (
		enc    *encoder
		prefix int
	)
	var reqs []Request
	spans := make([]span, len(docs))
	for i, d := range docs {
		tokens, pre := []int(nil), 0
		if d.IDs != nil {
			tokens, pre = d.IDs[1:], d.IDs[0]
		} else {
			if enc == nil {
				if tok == nil {
					return nil, nil, fmt.Errorf("document %d: text needs a tokenizer", i+1)
				}
				var err error
				if enc, err = newEncoder(tok, opt.AddBOS); err != nil {
					return nil, nil, err
				}
				if prefix, err = prefixToken(tok, opt); err != nil {
					return nil, nil, err
				}
			}
			var err error
			if tokens, err = enc.encode(d.Text); err != nil {
				return nil, nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			pre = prefix
		}
		spans[i].start = len(reqs)
		reqs = append(reqs, RollingRequests(tokens, pre, lm.MaxLength())...)
		spans[i].end = len(reqs)
	}
	return reqs, spans, nil
}

func perplexityReport(t *Task, docs []Doc, res []Result, spans []span, perItem bool) *TaskReport {
	tr := &TaskReport{Name: t.Name, Type: t.Type, Docs: len(docs), Metrics: map[string]float64{}}
	var ll float64
	words, bytes, tokens := 0, 0, 0
	allText := true
	for i, d := range docs {
		r := sumResults(res[spans[i].start:spans[i].end])
		ll += r.LogLikelihood
		tokens += r.Tokens
		allText = allText && (d.IDs == nil || d.Text != "")
		w, b := countWords(d.Text), len(d.Text)
		words += w
		bytes += b
		if perItem {
			item := ItemResult{Doc: i, LogLikelihood: &r.LogLikelihood, Tokens: r.Tokens}
			if d.IDs == nil || d.Text != "" {
				item.Words, item.Bytes = w, b
			}
			tr.Items = append(tr.Items, item)
		}
	}
	tr.Tokens = tokens
	for _, m := range t.Metrics {
		switch {
		case m == "token_perplexity" && tokens > 0:
			tr.Metrics[m] = math.Exp(-ll / float64(tokens))
		case !allText:
			// Pre-tokenized documents without text have no words or bytes.
		case m == "word_perplexity":
			tr.Metrics[m] = math.Exp(-ll / float64(words))
		case m == "byte_perplexity" && bytes > 0:
			tr.Metrics[m] = math.Exp(-ll / float64(bytes))
		case m == "bits_per_byte" && bytes > 0:
			tr.Metrics[m] = -ll / float64(bytes) / math.Ln2
		}
	}
	return tr
}

// scoreText scores a multiple-choice task through a TextLM: the same
// contexts and continuations, tokenized by the model.
func scoreText(ctx context.Context, lm TextLM, t *Task, docs []Doc, opt *Options, log io.Writer) (*TaskReport, error) {
	var reqs []TextRequest
	spans := make([]span, len(docs))
	ctxs, err := renderContexts(t, len(docs))
	if err != nil {
		return nil, err
	}
	for i, d := range docs {
		context := ctxs[i]
		spans[i].start = len(reqs)
		for _, c := range d.Choices {
			reqs = append(reqs, TextRequest{context, t.TargetDelimiter + c})
		}
		spans[i].end = len(reqs)
	}
	res := make([]Result, 0, len(reqs))
	for i := 0; i < len(reqs); i += opt.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := reqs[i:min(i+opt.BatchSize, len(reqs))]
		r, err := lm.LogLikelihoodText(ctx, batch)
		if err != nil {
			return nil, err
		}
		if len(r) != len(batch) {
			return nil, fmt.Errorf("eval: LM answered %d of %d requests", len(r), len(batch))
		}
		res = append(res, r...)
		if opt.Progress != nil {
			opt.Progress(t.Name, len(res), len(reqs))
		}
	}
	return choiceReportLogged(t, docs, res, spans, opt.PerItem, log)
}

func choiceRequests(lm LM, tok Tokenizer, t *Task, docs []Doc, opt *Options) ([]Request, []span, error) {
	if tok == nil {
		return nil, nil, errors.New("multiple-choice tasks need a tokenizer")
	}
	ctxs, err := renderContexts(t, len(docs))
	if err != nil {
		return nil, nil, err
	}
	enc, err := newEncoder(tok, opt.AddBOS)
	if err != nil {
		return nil, nil, err
	}
	prefix := -1
	var reqs []Request
	spans := make([]span, len(docs))
	for i, d := range docs {
		context := ctxs[i]
		if context == "" && prefix < 0 {
			if prefix, err = prefixToken(tok, opt); err != nil {
				return nil, nil, err
			}
		}
		spans[i].start = len(reqs)
		for _, c := range d.Choices {
			r, err := enc.encodePair(context, t.TargetDelimiter+c, prefix)
			if err != nil {
				return nil, nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			if len(r.Continuation) > lm.MaxLength() {
				return nil, nil, fmt.Errorf("document %d: %w: %d tokens", i+1, ErrTooLong, len(r.Continuation))
			}
			reqs = append(reqs, r)
		}
		spans[i].end = len(reqs)
	}
	return reqs, spans, nil
}

func choiceReport(t *Task, docs []Doc, res []Result, spans []span, perItem bool) *TaskReport {
	tr := &TaskReport{Name: t.Name, Type: t.Type, Docs: len(docs), Metrics: map[string]float64{}, Stderr: map[string]float64{}}
	values := map[string][]float64{}
	for i, d := range docs {
		rs := res[spans[i].start:spans[i].end]
		acc := choiceMetrics(&d, rs)
		pred := int(acc["pred"])
		item := ItemResult{Doc: i, Choices: rs, Gold: d.Gold, Pred: &pred, Metrics: map[string]float64{}}
		for _, m := range t.Metrics {
			values[m] = append(values[m], acc[m])
			item.Metrics[m] = acc[m]
		}
		for _, r := range rs {
			item.Tokens += r.Tokens
		}
		if perItem {
			tr.Items = append(tr.Items, item)
		}
	}
	for _, m := range t.Metrics {
		v := values[m]
		if len(v) == 0 {
			continue
		}
		tr.Metrics[m] = mean(v)
		if len(v) > 1 {
			tr.Stderr[m] = meanStderr(v)
		}
	}
	return tr
}

// choiceMetrics is a multiple-choice document's acc, acc_norm, acc_bytes
// and exact_match, and its pred (the argmax of the log-likelihoods).
func choiceMetrics(d *Doc, rs []Result) map[string]float64 {
	lls := make([]float64, len(rs))
	norm := make([]float64, len(rs))
	byteNorm := make([]float64, len(rs))
	for j, r := range rs {
		lls[j] = r.LogLikelihood
		norm[j] = r.LogLikelihood / float64(utf8.RuneCountInString(d.Choices[j]))
		byteNorm[j] = r.LogLikelihood / float64(len(d.Choices[j]))
	}
	pred := argmax(lls)
	acc := map[string]float64{
		"pred":        float64(pred),
		"acc":         hit(d.Gold, pred),
		"acc_norm":    hit(d.Gold, argmax(norm)),
		"acc_bytes":   hit(d.Gold, argmax(byteNorm)),
		"exact_match": 0,
	}
	for _, g := range d.Gold {
		if rs[g].IsGreedy {
			acc["exact_match"] = 1
		}
	}
	return acc
}

// argmax is numpy's: the first maximum, and a NaN wins over every number.
func argmax(xs []float64) int {
	best := 0
	for i, x := range xs {
		if math.IsNaN(xs[best]) {
			break
		}
		if math.IsNaN(x) || x > xs[best] {
			best = i
		}
	}
	return best
}

func hit(gold []int, pred int) float64 {
	for _, g := range gold {
		if g == pred {
			return 1
		}
	}
	return 0
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// meanStderr is lm-eval's mean_stderr: the sample standard deviation
// (n−1) over √n.
func meanStderr(xs []float64) float64 {
	mu := mean(xs)
	var s float64
	for _, x := range xs {
		s += (x - mu) * (x - mu)
	}
	n := float64(len(xs))
	return math.Sqrt(s/(n-1)) / math.Sqrt(n)
}
