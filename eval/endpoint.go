package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Endpoint is an LM served by an OpenAI-compatible completions server
// that echoes prompt log-probs (vLLM, llama-cpp-python; llama.cpp's
// llama-server refuses echo or returns the generated token's log-prob
// only, see ggml-org/llama.cpp#27174, which is reported as an error
// instead of being scored at chance), queried the way lm-eval's
// local-completions model does:
// the prompt is the token ids of context+continuation, with echo true,
// logprobs 1, max_tokens 1 and temperature 0; the log-likelihood is the
// sum of the echoed token_logprobs of the continuation, and a token is
// greedy when its log-prob equals the largest of its top_logprobs.
type Endpoint struct {
	// URL is the completions URL (http://host:8000/v1/completions); a base
	// URL (http://host:8000 or …/v1) gets /v1/completions or /completions
	// appended.
	URL string
	// Model is sent as "model"; empty asks GET /v1/models for the first one.
	Model string
	// ContextSize is the server's context length, lm-eval's max_length
	// (default 2048). One position is kept for the generated token and the
	// echoed prompt holds the last continuation token, so MaxLength is
	// ContextSize−2, which gives the same windows and truncation as lm-eval.
	ContextSize int
	// BatchSize is the number of prompts per HTTP request (default 1);
	// Concurrent the number of HTTP requests in flight (default 1).
	BatchSize, Concurrent int
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// Retries is how often a failed HTTP request is tried again (default 3,
	// negative for none), waiting Backoff (default 500 ms), doubling.
	Retries int
	Backoff time.Duration
	// Client defaults to http.DefaultClient.
	Client *http.Client

	modelOnce sync.Once
	modelErr  error
}

// MaxLength implements LM.
func (e *Endpoint) MaxLength() int {
	if e.ContextSize <= 0 {
		return 2048 - 2
	}
	return e.ContextSize - 2
}

func (e *Endpoint) client() *http.Client {
	if e.Client != nil {
		return e.Client
	}
	return http.DefaultClient
}

// completionsURL and serverBase derive the two kinds of URL from e.URL.
func completionsURL(u string) string {
	u = strings.TrimRight(u, "/")
	switch {
	case strings.HasSuffix(u, "/completions"):
		return u
	case strings.HasSuffix(u, "/v1"):
		return u + "/completions"
	}
	return u + "/v1/completions"
}

func serverBase(u string) string {
	u = strings.TrimRight(u, "/")
	for _, s := range []string{"/v1/completions", "/v1/chat/completions", "/completions", "/v1"} {
		if b, ok := strings.CutSuffix(u, s); ok {
			return b
		}
	}
	return u
}

type completionRequest struct {
	Model       string  `json:"model,omitempty"`
	Prompt      [][]int `json:"prompt"`
	Temperature float64 `json:"temperature"`
	MaxTokens   int     `json:"max_tokens"`
	Logprobs    int     `json:"logprobs"`
	Seed        int     `json:"seed"`
	Echo        bool    `json:"echo"`
}

type completionResponse struct {
	Choices []struct {
		Index    int `json:"index"`
		Logprobs *struct {
			TokenLogprobs []*float64           `json:"token_logprobs"`
			TopLogprobs   []map[string]float64 `json:"top_logprobs"`
		} `json:"logprobs"`
	} `json:"choices"`
}

// LogLikelihood implements LM.
func (e *Endpoint) LogLikelihood(ctx context.Context, reqs []Request) ([]Result, error) {
	out := make([]Result, len(reqs))
	err := e.inBatches(ctx, len(reqs), func(ctx context.Context, lo, hi int) error {
		return e.batch(ctx, reqs[lo:hi], out[lo:hi])
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// inBatches finds the served model once, then runs fn over [0, n) in
// batches of BatchSize, Concurrent at a time.
func (e *Endpoint) inBatches(ctx context.Context, n int, fn func(ctx context.Context, lo, hi int) error) error {
	e.modelOnce.Do(func() {
		if e.Model == "" {
			e.Model, e.modelErr = e.firstModel(ctx)
		}
	})
	if e.modelErr != nil {
		return e.modelErr
	}
	bs := max(1, e.BatchSize)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, e.Concurrent))
	for start := 0; start < n; start += bs {
		end := min(start+bs, n)
		g.Go(func() error { return fn(ctx, start, end) })
	}
	return g.Wait()
}

func (e *Endpoint) batch(ctx context.Context, reqs []Request, out []Result) error {
	body := completionRequest{Model: e.Model, MaxTokens: 1, Logprobs: 1, Seed: 1234, Echo: true}
	ctxLens := make([]int, len(reqs))
	for i, r := range reqs {
		inp, ctxLen, err := truncate(r, e.MaxLength())
		if err != nil {
			return err
		}
		body.Prompt = append(body.Prompt, inp)
		ctxLens[i] = ctxLen
	}
	var resp completionResponse
	if err := e.post(ctx, completionsURL(e.URL), body, &resp); err != nil {
		return err
	}
	if len(resp.Choices) != len(reqs) {
		return fmt.Errorf("eval: %s answered %d choices for %d prompts", e.URL, len(resp.Choices), len(reqs))
	}
	sort.SliceStable(resp.Choices, func(a, b int) bool { return resp.Choices[a].Index < resp.Choices[b].Index })
	for i, c := range resp.Choices {
		if c.Logprobs == nil {
			return fmt.Errorf("eval: %s returned no logprobs (does it support echo?)", e.URL)
		}
		from, n := ctxLens[i], len(reqs[i].Continuation)
		lps := c.Logprobs.TokenLogprobs
		if len(lps) < from+n {
			return fmt.Errorf("eval: %s echoed %d token log-probs for a %d-token prompt (does it support echo?)", e.URL, len(lps), from+n)
		}
		r := Result{Tokens: n, IsGreedy: true}
		for j := from; j < from+n; j++ {
			if lps[j] == nil {
				return fmt.Errorf("eval: %s: null log-prob at prompt position %d", e.URL, j)
			}
			r.LogLikelihood += *lps[j]
			// As lm-eval, positions without top_logprobs are not checked.
			if j < len(c.Logprobs.TopLogprobs) && !isTop(*lps[j], c.Logprobs.TopLogprobs[j]) {
				r.IsGreedy = false
			}
		}
		out[i] = r
	}
	return nil
}

// isTop is lm-eval's `tok == max(top.values())`.
func isTop(lp float64, top map[string]float64) bool {
	if len(top) == 0 {
		return false
	}
	best := -1e308
	for _, v := range top {
		best = max(best, v)
	}
	return lp == best
}

func (e *Endpoint) firstModel(ctx context.Context) (string, error) {
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	u := serverBase(e.URL) + "/v1/models"
	if err := e.do(ctx, http.MethodGet, u, nil, &list); err != nil {
		return "", fmt.Errorf("eval: no model name given and %w", err)
	}
	if len(list.Data) == 0 {
		return "", fmt.Errorf("eval: no model name given and %s lists none", u)
	}
	return list.Data[0].ID, nil
}

func (e *Endpoint) post(ctx context.Context, u string, body, out any) error {
	return e.do(ctx, http.MethodPost, u, body, out)
}

// do sends one JSON request with retries and decodes the answer.
func (e *Endpoint) do(ctx context.Context, method, u string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	retries := e.Retries
	if retries == 0 {
		retries = 3
	}
	wait := e.Backoff
	if wait == 0 {
		wait = 500 * time.Millisecond
	}
	var err error
	for attempt := 0; ; attempt++ {
		var retry bool
		retry, err = e.once(ctx, method, u, payload, out)
		if err == nil || !retry || attempt >= retries {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// once reports whether a failure is worth retrying: network errors and
// 5xx/429 answers are, a 4xx answer or malformed JSON is not.
func (e *Endpoint) once(ctx context.Context, method, u string, payload []byte, out any) (bool, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return false, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.APIKey)
	}
	resp, err := e.client().Do(req)
	if err != nil {
		var ue *url.Error
		return ctx.Err() == nil && errors.As(err, &ue), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return true, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return retry, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, msg)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return false, fmt.Errorf("%s %s: %w", method, u, err)
	}
	return false, nil
}

// RemoteTokenizer tokenizes through a server's /tokenize endpoint, as
// lm-eval's remote tokenizer backend does; BOS and EOS come from vLLM's
// /tokenizer_info or llama.cpp's /props (their token strings, encoded).
type RemoteTokenizer struct {
	ep       *Endpoint
	ctx      context.Context
	bos, eos int
	hasBOS   bool
	hasEOS   bool
}

// NewRemoteTokenizer checks that the server behind ep tokenizes and reads
// its special tokens. ctx bounds every later Encode.
func NewRemoteTokenizer(ctx context.Context, ep *Endpoint) (*RemoteTokenizer, error) {
	t := &RemoteTokenizer{ep: ep, ctx: ctx}
	if _, err := t.Encode("test"); err != nil {
		return nil, fmt.Errorf("eval: server cannot tokenize: %w", err)
	}
	var info struct {
		BOS *string `json:"bos_token"`
		EOS *string `json:"eos_token"`
	}
	base := serverBase(ep.URL)
	noRetry := &Endpoint{URL: ep.URL, APIKey: ep.APIKey, Client: ep.Client, Retries: -1}
	if noRetry.do(ctx, http.MethodGet, base+"/tokenizer_info", nil, &info) != nil {
		noRetry.do(ctx, http.MethodGet, base+"/props", nil, &info)
	}
	special := func(s *string) (int, bool) {
		if s == nil || *s == "" {
			return 0, false
		}
		ids, err := t.Encode(*s)
		if err != nil || len(ids) == 0 {
			return 0, false
		}
		return ids[0], true
	}
	t.bos, t.hasBOS = special(info.BOS)
	t.eos, t.hasEOS = special(info.EOS)
	return t, nil
}

// Encode implements Tokenizer: POST /tokenize without special tokens. Both
// vLLM's field names (prompt, add_special_tokens) and llama.cpp's
// (content, add_special) are sent.
func (t *RemoteTokenizer) Encode(text string) ([]int, error) {
	body := map[string]any{"prompt": text, "add_special_tokens": false, "content": text, "add_special": false}
	if t.ep.Model != "" {
		body["model"] = t.ep.Model
	}
	var out struct {
		Tokens []int `json:"tokens"`
	}
	if err := t.ep.post(t.ctx, serverBase(t.ep.URL)+"/tokenize", body, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// BOS implements Tokenizer.
func (t *RemoteTokenizer) BOS() (int, bool) { return t.bos, t.hasBOS }

// EOS implements Tokenizer.
func (t *RemoteTokenizer) EOS() (int, bool) { return t.eos, t.hasEOS }
