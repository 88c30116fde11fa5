package eval

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// mgsm_direct_de through an OpenAI-compatible server: the rendered prompt,
// greedy, the task's stop strings and max_tokens are sent; the server's
// text (which a server may return with the stop string) is cut and
// filtered.
func TestEndpointGenerate(t *testing.T) {
	var bodies []generateCompletionRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body generateCompletionRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		bodies = append(bodies, body)
		var resp generateCompletionResponse
		for i, p := range body.Prompt {
			text := " 7 Stück.\nFrage: noch eine"
			if strings.Contains(p, "Janets Enten") {
				text = " 18"
			}
			resp.Choices = append(resp.Choices, struct {
				Index int    `json:"index"`
				Text  string `json:"text"`
			}{i, text})
		}
		json.NewEncoder(w).Encode(resp)
	}))
	defer srv.Close()
	task, err := Builtin("mgsm_direct_de")
	if err != nil {
		t.Fatal(err)
	}
	ep := &Endpoint{URL: srv.URL, Model: "m", BatchSize: 2}
	rep, err := Score(context.Background(), ep, nil, []*Task{task}, Options{Limit: 3, PerItem: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || len(bodies[0].Prompt) != 2 || bodies[0].Temperature != 0 || bodies[0].MaxTokens != 256 ||
		strings.Join(bodies[0].Stop, "|") != "Frage:|</s>|<|im_end|>" || !strings.HasPrefix(bodies[0].Prompt[0], "Frage: Janets Enten") ||
		!strings.HasSuffix(bodies[0].Prompt[0], "?\nAntwort:") {
		t.Fatalf("requests %+v", bodies)
	}
	tr := rep.Tasks[0]
	if r := *tr.Items[1].Response; r != " 7 Stück.\n" {
		t.Errorf("response %q not cut at the stop string", r)
	}
	// Doc 0's answer 18 is right under both filters; doc 1's "7 Stück."
	// under neither (its target is 3).
	if got := tr.Metrics["exact_match,flexible-extract"]; got != 1.0/3 {
		t.Errorf("metrics %v", tr.Metrics)
	}
}
