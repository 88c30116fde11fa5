package eval

import (
	"context"
	"fmt"
	"slices"
	"sort"
)

type generateCompletionRequest struct {
	Model       string   `json:"model,omitempty"`
	Prompt      []string `json:"prompt"`
	Temperature float64  `json:"temperature"`
	MaxTokens   int      `json:"max_tokens"`
	Stop        []string `json:"stop,omitempty"`
	Seed        int      `json:"seed"`
}

type generateCompletionResponse struct {
	Choices []struct {
		Index int    `json:"index"`
		Text  string `json:"text"`
	} `json:"choices"`
}

// GenerateText implements TextGenerator the way lm-eval's
// local-completions model generates: the prompt text with temperature 0,
// max_tokens max_gen_toks, the task's stop strings as "stop" and seed
// 1234; the server tokenizes (with its own BOS handling) and stops. The
// answer is then cut at the stop strings, as the harness does. Prompts
// with the same stop strings and length go BatchSize to a request.
func (e *Endpoint) GenerateText(ctx context.Context, reqs []GenerateRequest) ([]string, error) {
	out := make([]string, len(reqs))
	err := e.inBatches(ctx, len(reqs), func(ctx context.Context, lo, hi int) error {
		for lo < hi {
			// A run of requests with the same generation arguments.
			end := lo + 1
			for end < hi && slices.Equal(reqs[end].Until, reqs[lo].Until) && reqs[end].MaxGenToks == reqs[lo].MaxGenToks {
				end++
			}
			if err := e.generateBatch(ctx, reqs[lo:end], out[lo:end]); err != nil {
				return err
			}
			lo = end
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (e *Endpoint) generateBatch(ctx context.Context, reqs []GenerateRequest, out []string) error {
	maxTok := reqs[0].MaxGenToks
	if maxTok <= 0 {
		maxTok = DefaultMaxGenToks
	}
	body := generateCompletionRequest{Model: e.Model, MaxTokens: maxTok, Seed: 1234}
	for _, u := range reqs[0].Until {
		if u != "" {
			body.Stop = append(body.Stop, u)
		}
	}
	for _, r := range reqs {
		if r.Context == "" {
			return fmt.Errorf("eval: an empty generation context")
		}
		body.Prompt = append(body.Prompt, r.Context)
	}
	var resp generateCompletionResponse
	if err := e.post(ctx, completionsURL(e.URL), body, &resp); err != nil {
		return err
	}
	if len(resp.Choices) != len(reqs) {
		return fmt.Errorf("eval: %s answered %d choices for %d prompts", e.URL, len(resp.Choices), len(reqs))
	}
	sort.SliceStable(resp.Choices, func(a, b int) bool { return resp.Choices[a].Index < resp.Choices[b].Index })
	for i, c := range resp.Choices {
		out[i] = cutAtStops(c.Text, reqs[i].Until)
	}
	return nil
}
