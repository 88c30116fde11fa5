package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCompletions serves /v1/completions where every token after the
// first has log-prob −1 (−0.5 when the token is 'a'+3, which is also the
// top choice everywhere), and a byte-level /tokenize (id = byte+3).
func fakeCompletions(t *testing.T) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/tokenize":
			var req struct {
				Prompt string `json:"prompt"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			ids := []int{}
			for _, b := range []byte(req.Prompt) {
				ids = append(ids, int(b)+3)
			}
			json.NewEncoder(w).Encode(map[string]any{"tokens": ids})
		case "/v1/models":
			json.NewEncoder(w).Encode(map[string]any{"data": []any{map[string]string{"id": "served"}}})
		case "/tokenizer_info":
			json.NewEncoder(w).Encode(map[string]any{"eos_token": "\x00"}) // encodes to id 3
		case "/v1/completions":
			var req struct {
				Prompt [][]int `json:"prompt"`
				Echo   bool    `json:"echo"`
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !req.Echo {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			var choices []any
			for i, p := range req.Prompt {
				lps := []any{nil}
				tops := []any{nil}
				for _, id := range append(p[1:], 'a'+3) {
					lp := -1.0
					if id == 'a'+3 {
						lp = -0.5
					}
					lps = append(lps, lp)
					tops = append(tops, map[string]float64{"a": -0.5})
				}
				choices = append(choices, map[string]any{"index": i, "logprobs": map[string]any{"token_logprobs": lps, "top_logprobs": tops}})
			}
			json.NewEncoder(w).Encode(map[string]any{"choices": choices})
		default:
			http.NotFound(w, r)
		}
	}))
}

func TestEvalEndpointJSONPerItem(t *testing.T) {
	srv := fakeCompletions(t)
	defer srv.Close()
	dir := t.TempDir()
	ppl := filepath.Join(dir, "ppl.jsonl")
	os.WriteFile(ppl, []byte(`{"ids": [5, 6, 7, 8]}`+"\n"+`{"text": "ab"}`+"\n"), 0o644)
	mc := filepath.Join(dir, "mc.jsonl")
	os.WriteFile(mc, []byte(`{"context": "Q:", "choices": ["b", "aaa"], "gold": 1}`+"\n"), 0o644)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"eval", "--endpoint", srv.URL + "/v1/completions", "m",
		"--task", ppl + "," + mc, "--json", "--per-item", "--max-length", "6"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep struct {
		Tasks []struct {
			Name    string             `json:"name"`
			Metrics map[string]float64 `json:"metrics"`
			Items   []struct {
				LogLikelihood *float64 `json:"loglikelihood"`
				Tokens        int      `json:"tokens"`
				Pred          *int     `json:"pred"`
			} `json:"items"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// ids [5 6 7 8]: tokens 2..4 scored at −1 each. "ab": prefix (EOS, id 3)
	// then 'a' −0.5 and 'b' −1.
	items := rep.Tasks[0].Items
	if *items[0].LogLikelihood != -3 || items[0].Tokens != 3 || *items[1].LogLikelihood != -1.5 || items[1].Tokens != 2 {
		t.Errorf("perplexity items %s", out.String())
	}
	// " b" = −2, " aaa" = −1 −1.5 = −2.5: acc picks 0; per char −2 vs −0.833
	// picks 1 (gold).
	m := rep.Tasks[1].Metrics
	if m["acc"] != 0 || m["acc_norm"] != 1 || *rep.Tasks[1].Items[0].Pred != 0 {
		t.Errorf("multiple choice %s", out.String())
	}

	out.Reset()
	code = run(context.Background(), []string{"eval", "--endpoint", srv.URL, "--task", ppl, "--task", mc, "--per-item"}, &out, &errb)
	t.Logf("table:\n%s%s", out.String(), errb.String())
	for _, want := range []string{"acc_norm", "token_perplexity", "N/A", "-3.000000", "3 tokens"} {
		if code != exitOK || !strings.Contains(out.String(), want) {
			t.Errorf("exit %d, table lacks %q", code, want)
		}
	}
}

func TestEvalUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"eval", "--list"}, exitOK, "de_xquad_mc"},
		{[]string{"eval", "--list", "--json"}, exitOK, `"output_type": "multiple_choice"`},
		{[]string{"eval", "--license", "de_xquad_mc"}, exitOK, "Artetxe"},
		{[]string{"eval", "--license", "nope"}, exitUsage, ""},
		{[]string{"eval"}, exitUsage, ""},
		{[]string{"eval", "dir"}, exitUsage, ""},
		{[]string{"eval", "dir", "--task", "nope"}, exitUsage, ""},
		{[]string{"eval", "dir", "--task", "de_ud_gsd_ppl", "--num-fewshot", "2"}, exitUsage, ""},
		{[]string{"eval", "dir", "--task", "de_ud_gsd_ppl"}, exitFailed, ""},
		{[]string{"eval", "--license", "belebele_deu_Latn"}, exitOK, "Bandarkar"},
		{[]string{"eval", "--license", "mgsm_native_cot_de"}, exitOK, "creativecommons.org/licenses/by/4.0"},
		{[]string{"eval", "--list"}, exitOK, "mgsm_direct_de      generate_until"},
		{[]string{"eval", "dir", "--preset", "nope"}, exitUsage, ""},
		{[]string{"eval", "dir", "--task", "de_xquad_mc", "--occiglot-prompt"}, exitUsage, ""},
		{[]string{"eval", "dir", "--task", "paws_de", "--num-fewshot", "1"}, exitUsage, ""},
		{[]string{"eval", "dir", "--task", "mgsm_direct_de", "--num-fewshot", "9"}, exitUsage, ""},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tt.args, &out, &errb); code != tt.code || !strings.Contains(out.String(), tt.out) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tt.args, code, out.String(), errb.String())
		}
	}
}

func TestMetricString(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0.5, "0.5000"},
		{0, "0.0000"},
		{12.34567, "12.3457"},
		{109948468905001.1719, "1.0995e+14"},
		{-2e6, "-2.0000e+06"},
		{0.00001234, "1.2340e-05"},
	} {
		if got := metricString(tc.v); got != tc.want {
			t.Errorf("metricString(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
