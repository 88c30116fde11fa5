package eval

import (
	"context"
	"fmt"
	"sort"
	"unicode/utf8"
)

// TextRequest is a loglikelihood request on text, for a server that
// tokenizes itself.
type TextRequest struct {
	Context, Continuation string
}

// TextLM is an LM that scores text without a local tokenizer. Score uses
// it for multiple-choice tasks when it is given no Tokenizer.
type TextLM interface {
	LogLikelihoodText(ctx context.Context, reqs []TextRequest) ([]Result, error)
}

type textCompletionRequest struct {
	Model       string   `json:"model,omitempty"`
	Prompt      []string `json:"prompt"`
	Temperature float64  `json:"temperature"`
	MaxTokens   int      `json:"max_tokens"`
	Logprobs    int      `json:"logprobs"`
	Seed        int      `json:"seed"`
	Echo        bool     `json:"echo"`
}

type textCompletionResponse struct {
	Choices []struct {
		Index    int `json:"index"`
		Logprobs *struct {
			Tokens        []string             `json:"tokens"`
			TextOffset    []int                `json:"text_offset"`
			TokenLogprobs []*float64           `json:"token_logprobs"`
			TopLogprobs   []map[string]float64 `json:"top_logprobs"`
		} `json:"logprobs"`
	} `json:"choices"`
}

// LogLikelihoodText implements TextLM the way lm-eval's gguf model does:
// the prompt is the text context+continuation (echo, logprobs, max_tokens
// 1); the continuation's tokens are those whose text_offset is at least
// the context's length in characters, up to the end of the prompt; a
// token is greedy when it is the top entry of its top_logprobs. The
// server's own tokenisation applies, without lm-eval's moving of trailing
// whitespace, and nothing is truncated.
func (e *Endpoint) LogLikelihoodText(ctx context.Context, reqs []TextRequest) ([]Result, error) {
	out := make([]Result, len(reqs))
	err := e.inBatches(ctx, len(reqs), func(ctx context.Context, lo, hi int) error {
		return e.textBatch(ctx, reqs[lo:hi], out[lo:hi])
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (e *Endpoint) textBatch(ctx context.Context, reqs []TextRequest, out []Result) error {
	body := textCompletionRequest{Model: e.Model, MaxTokens: 1, Logprobs: 1, Seed: 1234, Echo: true}
	for _, r := range reqs {
		if r.Context == "" {
			return fmt.Errorf("eval: an empty context needs token ids (text prompts have no prefix token)")
		}
		body.Prompt = append(body.Prompt, r.Context+r.Continuation)
	}
	var resp textCompletionResponse
	if err := e.post(ctx, completionsURL(e.URL), body, &resp); err != nil {
		return err
	}
	if len(resp.Choices) != len(reqs) {
		return fmt.Errorf("eval: %s answered %d choices for %d prompts", e.URL, len(resp.Choices), len(reqs))
	}
	sort.SliceStable(resp.Choices, func(a, b int) bool { return resp.Choices[a].Index < resp.Choices[b].Index })
	for i, c := range resp.Choices {
		lp := c.Logprobs
		if lp == nil || len(lp.TextOffset) != len(lp.TokenLogprobs) || len(lp.Tokens) != len(lp.TokenLogprobs) {
			return fmt.Errorf("eval: %s returned no usable logprobs (tokens, text_offset, token_logprobs)", e.URL)
		}
		from := utf8.RuneCountInString(reqs[i].Context)
		end := from + utf8.RuneCountInString(reqs[i].Continuation)
		r := Result{IsGreedy: true}
		for j, off := range lp.TextOffset {
			if off < from || off >= end {
				continue
			}
			if lp.TokenLogprobs[j] == nil {
				return fmt.Errorf("eval: %s: null log-prob at prompt token %d", e.URL, j)
			}
			r.LogLikelihood += *lp.TokenLogprobs[j]
			r.Tokens++
			if j < len(lp.TopLogprobs) && topToken(lp.TopLogprobs[j]) != lp.Tokens[j] {
				r.IsGreedy = false
			}
		}
		if r.Tokens == 0 {
			return fmt.Errorf("eval: %s echoed no continuation tokens (does it support echo?)", e.URL)
		}
		out[i] = r
	}
	return nil
}

// topToken is the key with the largest log-prob (the smallest key on a
// tie, to be deterministic).
func topToken(top map[string]float64) string {
	best, bestV, first := "", 0.0, true
	for k, v := range top {
		if first || v > bestV || (v == bestV && k < best) {
			best, bestV, first = k, v, false
		}
	}
	return best
}
