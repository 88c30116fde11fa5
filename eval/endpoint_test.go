package eval

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const fakeVocab = 300

// fakeLogits is a bigram model over fakeVocab tokens with uneven logits.
func fakeLogits(ids []int) ([]float32, error) {
	out := make([]float32, 0, len(ids)*fakeVocab)
	for _, prev := range ids {
		for v := 0; v < fakeVocab; v++ {
			out = append(out, float32(math.Sin(float64(prev*31+v*7))*3))
		}
	}
	return out, nil
}

// fakeServer serves /v1/completions with echo from fakeLogits the way vLLM
// does (token_logprobs null for the first prompt token, top_logprobs with
// the sampled token and the top one), /tokenize as byteTokenizer,
// /tokenizer_info and /v1/models.
type fakeServer struct {
	t        *testing.T
	mu       sync.Mutex
	requests []completionRequest
	fail     atomic.Int32 // answer 503 this many times first
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/models":
		json.NewEncoder(w).Encode(map[string]any{"data": []map[string]string{{"id": "fake-model"}}})
	case "/tokenizer_info":
		json.NewEncoder(w).Encode(map[string]any{"bos_token": "\x01", "eos_token": "\x02"})
	case "/tokenize":
		var req struct {
			Prompt string `json:"prompt"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		ids := []int{}
		for _, b := range []byte(req.Prompt) {
			switch b {
			case 1, 2: // the special-token strings above
				ids = append(ids, int(b))
			default:
				ids = append(ids, int(b)+3)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"tokens": ids})
	case "/v1/completions":
		if f.fail.Load() > 0 {
			f.fail.Add(-1)
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var req completionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.mu.Unlock()
		type lp struct {
			TokenLogprobs []*float64           `json:"token_logprobs"`
			TopLogprobs   []map[string]float64 `json:"top_logprobs"`
		}
		var choices []map[string]any
		for i, p := range req.Prompt {
			logits, _ := fakeLogits(p)
			var l lp
			l.TokenLogprobs = append(l.TokenLogprobs, nil)
			l.TopLogprobs = append(l.TopLogprobs, nil)
			for j := 1; j <= len(p); j++ {
				row := logits[(j-1)*fakeVocab : j*fakeVocab]
				best := 0
				for v := range row {
					if row[v] > row[best] {
						best = v
					}
				}
				tok := best // the generated token
				if j < len(p) {
					tok = p[j]
				}
				v, _ := logSoftmaxAt(row, tok)
				top, _ := logSoftmaxAt(row, best)
				l.TokenLogprobs = append(l.TokenLogprobs, &v)
				l.TopLogprobs = append(l.TopLogprobs, map[string]float64{strconv.Itoa(tok): v, strconv.Itoa(best): top})
			}
			// Answer out of order: the client sorts by index.
			choices = append([]map[string]any{{"index": i, "text": "x", "logprobs": l}}, choices...)
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": choices})
	default:
		http.NotFound(w, r)
	}
}

// A hand-written answer: prompt [5 6 7] for context [5], continuation
// [6 7]; the echoed log-probs are null, −0.5, −0.25 and −1 for the
// generated token, so ll = −0.75; position 2's top log-prob is −0.1, so
// the continuation is not greedy.
func TestEndpointKnownLogprobs(t *testing.T) {
	var got completionRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		w.Write([]byte(`{"choices": [{"index": 0, "logprobs": {
			"tokens": ["a", "b", "c", "d"],
			"token_logprobs": [null, -0.5, -0.25, -1.0],
			"top_logprobs": [null, {"b": -0.5}, {"x": -0.1, "c": -0.25}, {"d": -1.0}]}}]}`))
	}))
	defer srv.Close()
	ep := &Endpoint{URL: srv.URL + "/v1/completions", Model: "m"}
	res, err := ep.LogLikelihood(context.Background(), []Request{{[]int{5}, []int{6, 7}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{LogLikelihood: -0.75, Tokens: 2}); res[0] != want {
		t.Errorf("got %+v, want %+v", res[0], want)
	}
	want := completionRequest{Model: "m", Prompt: [][]int{{5, 6, 7}}, MaxTokens: 1, Logprobs: 1, Seed: 1234, Echo: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request %+v, want %+v", got, want)
	}
}

// Through the fake server, every request scores exactly as the same model
// in-process (FromLogits), with batching, concurrency, truncation and a
// retried 503.
func TestEndpointMatchesInProcess(t *testing.T) {
	fs := &fakeServer{t: t}
	fs.fail.Store(1)
	srv := httptest.NewServer(fs)
	defer srv.Close()
	ep := &Endpoint{URL: srv.URL, ContextSize: 8, BatchSize: 3, Backoff: time.Millisecond}
	local := FromLogits(fakeLogits, fakeVocab, ep.MaxLength())
	var reqs []Request
	for i := 0; i < 10; i++ {
		ctx := seq(1 + i)
		for k := range ctx {
			ctx[k] = (ctx[k]*13 + i) % fakeVocab
		}
		reqs = append(reqs, Request{ctx, []int{(i * 17) % fakeVocab, (i*5 + 1) % fakeVocab}})
	}
	// A continuation that is greedy, to see IsGreedy true come through.
	logits, _ := fakeLogits([]int{42})
	best := 0
	for v := range logits {
		if logits[v] > logits[best] {
			best = v
		}
	}
	reqs = append(reqs, Request{[]int{42}, []int{best}})
	got, err := ep.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := local.LogLikelihood(context.Background(), reqs)
	for i := range want {
		if math.Abs(got[i].LogLikelihood-want[i].LogLikelihood) > 1e-12 || got[i].IsGreedy != want[i].IsGreedy || got[i].Tokens != want[i].Tokens {
			t.Errorf("request %d: endpoint %+v, in-process %+v", i, got[i], want[i])
		}
	}
	if !got[len(got)-1].IsGreedy {
		t.Error("greedy continuation not reported greedy")
	}
	if ep.Model != "fake-model" || fs.requests[0].Model != "fake-model" {
		t.Errorf("model %q", ep.Model)
	}
	for _, r := range fs.requests {
		for _, p := range r.Prompt {
			if len(p) > ep.ContextSize-1 {
				t.Errorf("prompt of %d tokens for a context of %d", len(p), ep.ContextSize)
			}
		}
	}
}

// Score through the endpoint with the server's tokenizer: a perplexity
// task and a multiple-choice task give the same report as in-process.
func TestEndpointScoreRemoteTokenizer(t *testing.T) {
	srv := httptest.NewServer(&fakeServer{t: t})
	defer srv.Close()
	ep := &Endpoint{URL: srv.URL + "/v1", Model: "fake-model", ContextSize: 16, Concurrent: 2}
	tok, err := NewRemoteTokenizer(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := tok.BOS(); !ok || id != 1 {
		t.Errorf("BOS %d %v", id, ok)
	}
	if id, ok := tok.EOS(); !ok || id != 2 {
		t.Errorf("EOS %d %v", id, ok)
	}
	ppl, err := LoadTask("testdata/saetze.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := LoadTask("testdata/hauptstaedte.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tasks := []*Task{ppl, mc}
	for _, d := range ppl.Docs { // keep ids inside the fake vocab
		for i := range d.IDs {
			d.IDs[i] %= fakeVocab
		}
	}
	opt := Options{PerItem: true}
	got, err := Score(context.Background(), ep, tok, tasks, opt)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Score(context.Background(), FromLogits(fakeLogits, fakeVocab, ep.MaxLength()), byteTokenizer{}, tasks, opt)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Errorf("endpoint report\n%s\nin-process report\n%s", a, b)
	}
}

func TestEndpointErrors(t *testing.T) {
	tests := []struct{ name, body string }{
		{"no logprobs", `{"choices": [{"index": 0}]}`},
		{"short echo", `{"choices": [{"index": 0, "logprobs": {"token_logprobs": [null, -1]}}]}`},
		// llama-server ignores echo and returns the generated token only
		// (ggml-org/llama.cpp#27174): an error, not a score at chance.
		{"generated token only", `{"choices": [{"index": 0, "logprobs": {"token_logprobs": [-0.3], "top_logprobs": [{"x": -0.3}]}}]}`},
		{"null logprob", `{"choices": [{"index": 0, "logprobs": {"token_logprobs": [null, null, -1, -1]}}]}`},
		{"too few choices", `{"choices": []}`},
		{"not json", `<html>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(tt.body)) }))
			defer srv.Close()
			ep := &Endpoint{URL: srv.URL, Model: "m"}
			if _, err := ep.LogLikelihood(context.Background(), []Request{{[]int{5}, []int{6, 7}}}); err == nil {
				t.Error("no error")
			}
		})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad prompt", http.StatusBadRequest)
	}))
	defer srv.Close()
	ep := &Endpoint{URL: srv.URL, Model: "m", Backoff: time.Millisecond}
	if _, err := ep.LogLikelihood(context.Background(), []Request{{[]int{5}, []int{6}}}); err == nil {
		t.Error("400: no error")
	}
}

func TestEndpointURLs(t *testing.T) {
	for _, tt := range []struct{ in, comp, base string }{
		{"http://h:8000", "http://h:8000/v1/completions", "http://h:8000"},
		{"http://h:8000/", "http://h:8000/v1/completions", "http://h:8000"},
		{"http://h:8000/v1", "http://h:8000/v1/completions", "http://h:8000"},
		{"http://h:8000/v1/completions", "http://h:8000/v1/completions", "http://h:8000"},
	} {
		if c, b := completionsURL(tt.in), serverBase(tt.in); c != tt.comp || b != tt.base {
			t.Errorf("%s: %s %s", tt.in, c, b)
		}
	}
}
