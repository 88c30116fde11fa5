package eval

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// textServer tokenizes prompts into characters, with text_offset in
// characters as OpenAI's API; every token after the first has log-prob −1,
// 'a' −0.5, which is also the top token everywhere.
func textServer(t *testing.T) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req textCompletionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !req.Echo {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		var choices []any
		for i, p := range req.Prompt {
			var toks []string
			var offs []int
			var lps []any
			var tops []any
			k := 0
			for _, c := range p + "a" { // "a" is the generated token
				toks = append(toks, string(c))
				offs = append(offs, k)
				k++
				switch {
				case len(lps) == 0:
					lps, tops = append(lps, nil), append(tops, nil)
				case c == 'a':
					lps, tops = append(lps, -0.5), append(tops, map[string]float64{"a": -0.5, "b": -1})
				default:
					lps, tops = append(lps, -1.0), append(tops, map[string]float64{"a": -0.5, "b": -1})
				}
			}
			choices = append(choices, map[string]any{"index": i, "logprobs": map[string]any{
				"tokens": toks, "text_offset": offs, "token_logprobs": lps, "top_logprobs": tops}})
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": choices})
	}))
}

// " b" = −1 −1 = −2, " äaa" = −1 −1 −0.5 −0.5 = −3 (ä is one character:
// offsets count characters, not bytes). acc picks " b"; per character
// −2/1 vs −3/3 picks "äaa" (gold). Doc 2 has no delimiter: "a" −0.5 is
// greedy, "b" −1 is not.
func TestEndpointTextPrompts(t *testing.T) {
	srv := textServer(t)
	defer srv.Close()
	ep := &Endpoint{URL: srv.URL, Model: "m", BatchSize: 2}
	task := &Task{Name: "txt", TargetDelimiter: " ", Metrics: []string{"acc", "acc_norm", "exact_match"},
		Docs: []Doc{{Context: "Frage:", Choices: []string{"b", "äaa"}, Gold: []int{1}}}}
	if err := task.init(); err != nil {
		t.Fatal(err)
	}
	rep, err := Score(context.Background(), ep, nil, []*Task{task}, Options{PerItem: true})
	if err != nil {
		t.Fatal(err)
	}
	it := rep.Tasks[0].Items[0]
	if it.Choices[0] != (Result{-2, 2, false}) || it.Choices[1] != (Result{-3, 4, false}) {
		t.Errorf("choices %+v", it.Choices)
	}
	if m := rep.Tasks[0].Metrics; m["acc"] != 0 || m["acc_norm"] != 1 || m["exact_match"] != 0 {
		t.Errorf("metrics %v", m)
	}
	res, err := ep.LogLikelihoodText(context.Background(), []TextRequest{{"x", "a"}, {"x", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != (Result{-0.5, 1, true}) || res[1] != (Result{-1, 1, false}) {
		t.Errorf("greedy results %+v", res)
	}
	if _, err := ep.LogLikelihoodText(context.Background(), []TextRequest{{"", "a"}}); err == nil {
		t.Error("empty context: no error")
	}
}
