package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// filters returns the task's filters, or lm-eval's default for a task
// without filter_list: "none", take_first.
func filters(t *Task) []Filter {
	if len(t.Filters) > 0 {
		return t.Filters
	}
	return []Filter{{Name: "none", Steps: []FilterStep{{Function: "take_first"}}}}
}

// scoreGenerate runs a generate_until task: one greedy generation per
// document, then every filter and exact_match against the target.
func scoreGenerate(ctx context.Context, lm LM, tok Tokenizer, t *Task, docs []Doc, opt *Options, log io.Writer) (*TaskReport, error) {
	ctxs, err := renderContexts(t, len(docs))
	if err != nil {
		return nil, err
	}
	resps, err := generateAll(ctx, lm, tok, t, ctxs, opt)
	if err != nil {
		return nil, err
	}
	fl := filters(t)
	tr := &TaskReport{Name: t.Name, Type: t.Type, Docs: len(docs), Metrics: map[string]float64{}, Stderr: map[string]float64{}}
	filtered := make([][]string, len(fl))
	values := make([][]float64, len(fl))
	for f := range fl {
		tr.Filters = append(tr.Filters, fl[f].Name)
		filtered[f] = make([]string, len(docs))
		values[f] = make([]float64, len(docs))
		for i := range docs {
			out, err := fl[f].Apply(resps[i])
			if err != nil {
				return nil, err
			}
			filtered[f][i] = out
			values[f][i] = t.Match.ExactMatch(out, docs[i].Target)
		}
		key := "exact_match," + fl[f].Name
		if len(docs) > 0 {
			tr.Metrics[key] = mean(values[f])
		}
		if len(docs) > 1 {
			tr.Stderr[key] = meanStderr(values[f])
		}
	}
	if opt.PerItem {
		for i := range docs {
			it := ItemResult{Doc: i, Response: &resps[i], Filtered: map[string]string{}, Metrics: map[string]float64{}}
			for f := range fl {
				it.Filtered[fl[f].Name] = filtered[f][i]
				it.Metrics["exact_match,"+fl[f].Name] = values[f][i]
			}
			tr.Items = append(tr.Items, it)
		}
	}
	if log != nil {
		if err := logGenerateSamples(log, t, docs, ctxs, resps, filtered, values); err != nil {
			return nil, fmt.Errorf("sample log: %w", err)
		}
	}
	return tr, nil
}

// generateAll generates the answers: token by token with a TokenGenerator
// and a Tokenizer that decodes, else through a TextGenerator.
func generateAll(ctx context.Context, lm LM, tok Tokenizer, t *Task, ctxs []string, opt *Options) ([]string, error) {
	gen := t.Generation
	out := make([]string, 0, len(ctxs))
	tg, okTok := lm.(TokenGenerator)
	dec, okDec := tok.(Decoder)
	if okTok && okDec {
		enc, err := newEncoder(tok, opt.AddBOS)
		if err != nil {
			return nil, err
		}
		var eos []int
		if id, ok := tok.EOS(); ok {
			eos = []int{id}
		}
		for i, c := range ctxs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			s, err := generateTokens(ctx, lm, tg, dec, enc, eos, c, gen)
			if err != nil {
				return nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			out = append(out, s)
			if opt.Progress != nil {
				opt.Progress(t.Name, len(out), len(ctxs))
			}
		}
		return out, nil
	}
	xg, ok := lm.(TextGenerator)
	if !ok {
		return nil, errors.New("generate_until needs a model that generates: a local model with a tokenizer that decodes, or --endpoint")
	}
	for i := 0; i < len(ctxs); i += opt.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var reqs []GenerateRequest
		for _, c := range ctxs[i:min(i+opt.BatchSize, len(ctxs))] {
			reqs = append(reqs, GenerateRequest{Context: c, Until: gen.Until, MaxGenToks: gen.maxGenToks()})
		}
		res, err := xg.GenerateText(ctx, reqs)
		if err != nil {
			return nil, err
		}
		if len(res) != len(reqs) {
			return nil, fmt.Errorf("eval: LM answered %d of %d generation requests", len(res), len(reqs))
		}
		for _, s := range res {
			out = append(out, cutAtStops(s, gen.Until))
		}
		if opt.Progress != nil {
			opt.Progress(t.Name, len(out), len(ctxs))
		}
	}
	return out, nil
}
