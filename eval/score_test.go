package eval

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Three documents scored by bigramLogProbs over byteTokenizer ids, BOS
// (id 1) as the prefix. Summing the bigram scores by hand:
//
//	"Grüße aus Köln"  17 bytes, 3 words              ll = −10.75
//	" x  y\n"          6 bytes, 4 words ('', x, y, '') ll = −4.0
//	"Ja"               2 bytes, 1 word               ll = −1.25
//
// so Σ ll = −16, Σ words = 8, Σ bytes = Σ tokens = 25 and
// word_perplexity = e², byte_perplexity = token_perplexity = e^(16/25),
// bits_per_byte = 16/25/ln 2.
func TestScorePerplexityByHand(t *testing.T) {
	task := &Task{Name: "ppl", Docs: []Doc{{Text: "Grüße aus Köln"}, {Text: " x  y\n"}, {Text: "Ja"}}}
	if err := task.init(); err != nil {
		t.Fatal(err)
	}
	for _, maxLen := range []int{1, 4, 2048} { // windows must not change a bigram score
		lm := FromLogProbs(bigramLogProbs, maxLen)
		rep, err := Score(context.Background(), lm, byteTokenizer{}, []*Task{task}, Options{PerItem: true, BatchSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		tr := rep.Tasks[0]
		want := map[string]float64{
			"word_perplexity":  math.Exp(2),
			"byte_perplexity":  math.Exp(16.0 / 25),
			"token_perplexity": math.Exp(16.0 / 25),
			"bits_per_byte":    16.0 / 25 / math.Ln2,
		}
		for k, v := range want {
			if !approx(tr.Metrics[k], v) {
				t.Errorf("maxLen %d: %s = %v, want %v", maxLen, k, tr.Metrics[k], v)
			}
		}
		if len(tr.Stderr) != 0 {
			t.Errorf("perplexity stderr %v, want none (N/A in lm-eval)", tr.Stderr)
		}
		wantItems := []struct {
			ll                   float64
			tokens, words, bytes int
		}{{-10.75, 17, 3, 17}, {-4, 6, 4, 6}, {-1.25, 2, 1, 2}}
		for i, w := range wantItems {
			it := tr.Items[i]
			if !approx(*it.LogLikelihood, w.ll) || it.Tokens != w.tokens || it.Words != w.words || it.Bytes != w.bytes {
				t.Errorf("maxLen %d item %d = %+v (ll %v), want %+v", maxLen, i, it, *it.LogLikelihood, w)
			}
		}
	}
}

// A pre-tokenized item is its own prefix: {"ids": [BOS, text ids…]} scores
// the same tokens 2..n as the text item.
func TestScorePreTokenized(t *testing.T) {
	ids, _ := byteTokenizer{}.Encode("Grüße aus Köln")
	task := &Task{Name: "ids", Docs: []Doc{{IDs: append([]int{1}, ids...)}}}
	if err := task.init(); err != nil {
		t.Fatal(err)
	}
	rep, err := Score(context.Background(), FromLogProbs(bigramLogProbs, 5), nil, []*Task{task}, Options{PerItem: true})
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Tasks[0]
	if it := tr.Items[0]; !approx(*it.LogLikelihood, -10.75) || it.Tokens != 17 {
		t.Errorf("item = %+v, want ll −10.75 over 17 tokens", it)
	}
	if !approx(tr.Metrics["token_perplexity"], math.Exp(10.75/17)) {
		t.Errorf("token_perplexity = %v", tr.Metrics["token_perplexity"])
	}
	if _, ok := tr.Metrics["word_perplexity"]; ok {
		t.Error("word_perplexity without text")
	}
}

// Three documents with log-likelihoods chosen so that acc, acc_norm
// (per character) and acc_bytes disagree:
//
//	doc 1: "Ja" −2, "Nein" −3; gold 1. acc picks 0; per char −1 vs −0.75
//	       picks 1.                       acc 0, acc_norm 1, acc_bytes 1
//	doc 2: "Äpfel" −6 (5 chars, 6 bytes), "Birnen" −6.5; gold 0. per char
//	       −1.2 vs −1.083 picks 1; per byte −1 vs −1.083 picks 0.
//	                                      acc 1, acc_norm 0, acc_bytes 1
//	doc 3: "rot" −1, "grün" −1, "blau" −5; gold [0 1]: a tie goes to the
//	       first maximum, 0, which is gold. per char −0.333 vs −0.25 picks
//	       1, also gold.                  acc 1, acc_norm 1, acc_bytes 1
//
// acc = 2/3 with stderr = sqrt((4/9+1/9+1/9)/2)/√3 = 1/3; acc_norm the
// same; acc_bytes = 1 with stderr 0. exact_match: only "Nein" is greedy
// and gold, so 1/3.
func TestScoreMultipleChoiceByHand(t *testing.T) {
	lm := &choiceLM{
		ll: map[string]float64{
			" Ja": -2, " Nein": -3, " Äpfel": -6, " Birnen": -6.5, " rot": -1, " grün": -1, " blau": -5,
		},
		greedy: map[string]bool{" Nein": true, " Äpfel": false, " blau": true},
	}
	task := &Task{
		Name: "mc", TargetDelimiter: " ", FewshotDelimiter: "\n\n",
		Metrics: MultipleChoiceMetrics,
		Docs: []Doc{
			{Context: "Frage: Ist das so?\nAntwort:", Choices: []string{"Ja", "Nein"}, Gold: []int{1}},
			{Context: "Obst:", Choices: []string{"Äpfel", "Birnen"}, Gold: []int{0}},
			{Context: "Farbe:", Choices: []string{"rot", "grün", "blau"}, Gold: []int{0, 1}},
		},
	}
	if err := task.init(); err != nil {
		t.Fatal(err)
	}
	rep, err := Score(context.Background(), lm, byteTokenizer{}, []*Task{task}, Options{PerItem: true})
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Tasks[0]
	want := map[string][2]float64{
		"acc":         {2.0 / 3, 1.0 / 3},
		"acc_norm":    {2.0 / 3, 1.0 / 3},
		"acc_bytes":   {1, 0},
		"exact_match": {1.0 / 3, 1.0 / 3},
	}
	for k, v := range want {
		if !approx(tr.Metrics[k], v[0]) || !approx(tr.Stderr[k], v[1]) {
			t.Errorf("%s = %v ± %v, want %v ± %v", k, tr.Metrics[k], tr.Stderr[k], v[0], v[1])
		}
	}
	if got := *tr.Items[1].Pred; got != 0 {
		t.Errorf("doc 2 pred = %d", got)
	}
	if v, ok := tr.Metric("acc,none"); !ok || !approx(v, 2.0/3) {
		t.Errorf(`Metric("acc,none") = %v, %v`, v, ok)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
}

// Tasks built in Go are checked, not trusted: no panics on bad documents.
func TestScoreValidates(t *testing.T) {
	lm := FromLogProbs(bigramLogProbs, 8)
	for _, task := range []*Task{
		{Name: "gold", Type: MultipleChoice, Docs: []Doc{{Context: "x", Choices: []string{"a"}, Gold: []int{3}}}},
		{Name: "nogold", Type: MultipleChoice, Docs: []Doc{{Context: "x", Choices: []string{"a"}}}},
		{Name: "ids", Docs: []Doc{{IDs: []int{}}}},
		{Name: "neg", Docs: []Doc{{IDs: []int{1, -1}}}},
		{Name: "mixed", Type: Perplexity, Docs: []Doc{{Choices: []string{"a"}, Gold: []int{0}}}},
		{Name: "metric", Docs: []Doc{{Text: "a"}}, Metrics: []string{"acc"}},
	} {
		if _, err := Score(context.Background(), lm, byteTokenizer{}, []*Task{task}, Options{}); err == nil {
			t.Errorf("task %s: no error", task.Name)
		}
	}
}

func TestEncodePair(t *testing.T) {
	bt := byteTokenizer{}
	ids := func(s string) []int { v, _ := bt.Encode(s); return v }
	tests := []struct {
		name       string
		tok        Tokenizer
		addBOS     bool
		ctx, cont  string
		prefix     int
		want       Request
		wantErrMsg bool
	}{
		{name: "plain", tok: bt, ctx: "Frage:", cont: " Ja", want: Request{ids("Frage:"), ids(" Ja")}},
		// Trailing whitespace of the context moves to the continuation.
		{name: "trailing space", tok: bt, ctx: "Antwort: \n", cont: " Ja", want: Request{ids("Antwort:"), ids(" \n Ja")}},
		{name: "nbsp is whitespace", tok: bt, ctx: "A\u00a0", cont: "b", want: Request{ids("A"), ids("\u00a0b")}},
		{name: "bos", tok: bt, addBOS: true, ctx: "A", cont: " b", want: Request{append([]int{1}, ids("A")...), ids(" b")}},
		// An empty context becomes the prefix token; no BOS on the continuation.
		{name: "empty context", tok: bt, addBOS: true, ctx: "", cont: " Satz", prefix: 1, want: Request{[]int{1}, ids(" Satz")}},
		// ... unless the continuation already starts with it.
		{name: "prefix is first token", tok: bt, ctx: "", cont: "xy", prefix: int('x') + 3, want: Request{ids("x"), ids("y")}},
		// Tokens are split at len(enc(context)) inside enc(context+continuation).
		{name: "merge across the boundary", tok: mergeTokenizer{}, ctx: "a", cont: "bc", want: Request{[]int{0}, []int{2}}},
		{name: "no continuation tokens", tok: mergeTokenizer{}, ctx: "ca", cont: "b", wantErrMsg: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := newEncoder(tt.tok, tt.addBOS)
			if err != nil {
				t.Fatal(err)
			}
			got, err := enc.encodePair(tt.ctx, tt.cont, tt.prefix)
			if tt.wantErrMsg {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// Few-shot context: description, then each example's context, target
// delimiter, gold choice and few-shot delimiter, then the document.
func TestFewshotContext(t *testing.T) {
	task := &Task{
		Name: "fs", Description: "Beschreibung.\n\n", TargetDelimiter: " ", FewshotDelimiter: "\n\n", NumFewshot: 2,
		Docs: []Doc{
			{Context: "F1:", Choices: []string{"a", "b"}, Gold: []int{1}},
			{Context: "F2:", Choices: []string{"c", "d"}, Gold: []int{0}},
			{Context: "F3:", Choices: []string{"e", "f"}, Gold: []int{0}},
		},
	}
	ctxs, err := renderContexts(task, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ctxs[0], "Beschreibung.\n\nF2: c\n\nF3: e\n\nF1:"; got != want {
		t.Errorf("doc 0: %q, want %q", got, want)
	}
	if got, want := ctxs[2], "Beschreibung.\n\nF1: b\n\nF2: c\n\nF3:"; got != want {
		t.Errorf("doc 2: %q, want %q", got, want)
	}
}

func TestCountWords(t *testing.T) {
	tests := []struct {
		s string
		n int
	}{
		{"", 1}, {"a", 1}, {"a b", 2}, {" a", 2}, {"a ", 2}, {" a  b \n", 4},
		{"a\u00a0b", 2}, {"a\x1cb", 2}, {"a\u200bb", 1}, {"a\u3000b", 2}, {"Grüße aus Köln", 3},
	}
	for _, tt := range tests {
		if got := countWords(tt.s); got != tt.n {
			t.Errorf("countWords(%q) = %d, want %d", tt.s, got, tt.n)
		}
	}
}

// pyIsSpace must be Python 3's str.isspace (what re's \s matches on str):
// the list below is every code point for which it is true.
func TestPyIsSpace(t *testing.T) {
	want := map[rune]bool{}
	for _, r := range []rune{0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
		0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
		0x2028, 0x2029, 0x202f, 0x205f, 0x3000} {
		want[r] = true
	}
	for r := rune(0); r <= 0x10ffff; r++ {
		if pyIsSpace(r) != want[r] {
			t.Errorf("pyIsSpace(%U) = %v", r, pyIsSpace(r))
		}
	}
}

func TestArgmax(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		xs   []float64
		want int
	}{
		{[]float64{1, 3, 3}, 1}, {[]float64{-1, -1}, 0}, {[]float64{1, nan, 5}, 1},
		{[]float64{math.Inf(-1), -2}, 1},
	}
	for _, tt := range tests {
		if got := argmax(tt.xs); got != tt.want {
			t.Errorf("argmax(%v) = %d, want %d", tt.xs, got, tt.want)
		}
	}
}

// Limit keeps the first documents; Progress sees every batch; PrefixToken
// and AddBOS change what conditions the text.
func TestScoreOptions(t *testing.T) {
	task := &Task{Name: "ppl", Docs: []Doc{{Text: "ab"}, {Text: "cd"}, {Text: "ef"}}}
	var seen []int
	lm := &recordLM{}
	pre := 7
	rep, err := Score(context.Background(), lm, byteTokenizer{}, []*Task{task}, Options{
		Limit: 2, BatchSize: 1, PrefixToken: &pre, AddBOS: true,
		Progress: func(task string, done, total int) { seen = append(seen, done, total) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tasks[0].Docs != 2 || !reflect.DeepEqual(seen, []int{1, 2, 2, 2}) {
		t.Errorf("docs %d, progress %v", rep.Tasks[0].Docs, seen)
	}
	ids, _ := byteTokenizer{}.Encode("ab")
	want := Request{[]int{7}, append([]int{1}, ids...)} // prefix 7, then BOS and the text
	if !reflect.DeepEqual(lm.reqs[0], want) {
		t.Errorf("request %v, want %v", lm.reqs[0], want)
	}
	if _, err := Score(context.Background(), lm, byteTokenizer{noBOS: true}, []*Task{task}, Options{AddBOS: true}); err == nil {
		t.Error("AddBOS without a BOS: no error")
	}
}

type recordLM struct{ reqs []Request }

func (m *recordLM) MaxLength() int { return 16 }
func (m *recordLM) LogLikelihood(_ context.Context, reqs []Request) ([]Result, error) {
	m.reqs = append(m.reqs, reqs...)
	out := make([]Result, len(reqs))
	for i, r := range reqs {
		out[i] = Result{LogLikelihood: -1, Tokens: len(r.Continuation)}
	}
	return out, nil
}

// A model that gives NaN or infinite log-likelihoods (NaN weights, a
// config.json with a negative rms_norm_eps) must not be scored.
func TestScoreRefusesNonFinite(t *testing.T) {
	ppl := &Task{Name: "ppl", Docs: []Doc{{Text: "Grüße"}, {Text: "aus Köln"}}}
	if err := ppl.init(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		bad     float64
		trigger byte // the log-prob of the last token of a document holding it is bad
		want    string
	}{
		{"nan", math.NaN(), 'G', "task ppl, request 0: log-likelihood NaN"},
		{"+inf", math.Inf(1), 'G', "log-likelihood +Inf"},
		{"-inf in the second document", math.Inf(-1), 'K', "task ppl, request 1: log-likelihood -Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lm := FromLogProbs(func(ids []int) ([]float64, error) {
				lp, err := bigramLogProbs(ids)
				if slices.Contains(ids, int(tt.trigger)+3) {
					lp[len(lp)-1] = tt.bad
				}
				return lp, err
			}, 2048)
			_, err := Score(context.Background(), lm, byteTokenizer{}, []*Task{ppl}, Options{BatchSize: 1})
			if !errors.Is(err, ErrNotFinite) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrNotFinite with %q", err, tt.want)
			}
		})
	}
	mc := &Task{Name: "mc", TargetDelimiter: " ", Metrics: MultipleChoiceMetrics,
		Docs: []Doc{{Context: "Farbe:", Choices: []string{"rot", "blau"}, Gold: []int{0}}}}
	if err := mc.init(); err != nil {
		t.Fatal(err)
	}
	lm := &choiceLM{ll: map[string]float64{" rot": -1, " blau": math.NaN()}}
	if _, err := Score(context.Background(), lm, byteTokenizer{}, []*Task{mc}, Options{}); !errors.Is(err, ErrNotFinite) {
		t.Fatalf("multiple choice: error %v, want ErrNotFinite", err)
	}
	if _, err := LogLikelihoodRolling(context.Background(), FromLogProbs(func(ids []int) ([]float64, error) {
		lp := make([]float64, len(ids))
		lp[len(lp)-1] = math.NaN()
		return lp, nil
	}, 4), []int{5, 6, 7, 8, 9, 10}, 1); !errors.Is(err, ErrNotFinite) {
		t.Fatalf("rolling: error %v, want ErrNotFinite", err)
	}
}

// cancellingLM answers every request and cancels the scoring's context on
// its first call, without returning its error: an LM that does not check
// the context.
type cancellingLM struct {
	cancel context.CancelFunc
	calls  int
}

func (m *cancellingLM) LogLikelihood(_ context.Context, reqs []Request) ([]Result, error) {
	m.calls++
	m.cancel()
	return make([]Result, len(reqs)), nil
}

func (*cancellingLM) MaxLength() int { return 2048 }

// TestScoreCancel: the batches stop once the context is done, even when
// the LM does not look at it.
func TestScoreCancel(t *testing.T) {
	task := &Task{Name: "ppl", Docs: []Doc{{Text: "a"}, {Text: "b"}, {Text: "c"}}}
	if err := task.init(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lm := &cancellingLM{cancel: cancel}
	_, err := Score(ctx, lm, byteTokenizer{}, []*Task{task}, Options{BatchSize: 1})
	if !errors.Is(err, context.Canceled) || lm.calls != 1 {
		t.Errorf("err = %v after %d calls, want %v after 1", err, lm.calls, context.Canceled)
	}
}
