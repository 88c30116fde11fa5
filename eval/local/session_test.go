package local

import (
	"context"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/model"
)

// stories converts the vendored stories260K checkpoint and its tokenizer.
func stories(t *testing.T) string {
	t.Helper()
	src := "../../testdata/stories260K"
	out := filepath.Join(t.TempDir(), "stories260K")
	if err := model.ConvertLlama2C(filepath.Join(src, "stories260K.bin"), out); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(out, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := model.ConvertLlama2CTokenizer(filepath.Join(src, "tok512.bin"), out, m.VocabSize()); err != nil {
		t.Fatal(err)
	}
	return out
}

// The session path gives the batched forward pass's log-likelihoods and
// greedy flags, whatever the order of the requests: shared prefixes,
// repeated contexts, multi-token continuations, contexts that share
// nothing, and a context truncated on the left.
func TestSessionMatchesForward(t *testing.T) {
	m, err := Open(stories(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	lm := m.LM.(*sessionLM)
	prefix := make([]int, 40)
	for i := range prefix {
		prefix[i] = 5 + (i*37)%400
	}
	with := func(tail ...int) []int { return append(append([]int(nil), prefix...), tail...) }
	long := make([]int, lm.MaxLength()+20)
	for i := range long {
		long[i] = 3 + (i*11)%500
	}
	reqs := []eval.Request{
		{Context: with(7, 8, 9), Continuation: []int{10}},
		{Context: with(7, 8, 9), Continuation: []int{11}},
		{Context: with(7, 8, 9), Continuation: []int{12, 13, 14}},
		{Context: with(20), Continuation: []int{21}},
		{Context: prefix[:35], Continuation: []int{prefix[35]}},
		{Context: []int{1, 2}, Continuation: []int{3}},                    // short: forward pass
		{Context: with(30), Continuation: make([]int, 20)},                // long continuation: forward pass
		{Context: long, Continuation: []int{17, 18}},                      // truncated
		{Context: with(7, 8, 9), Continuation: []int{10}},                 // again, after others
		{Context: append(with(7, 8, 9), 10), Continuation: []int{11, 12}}, // extends the session
	}
	got, err := lm.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := lm.FuncLM.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		if math.Abs(got[i].LogLikelihood-want[i].LogLikelihood) > 1e-3 || got[i].Tokens != want[i].Tokens || got[i].IsGreedy != want[i].IsGreedy {
			t.Errorf("request %d: session %+v, forward %+v", i, got[i], want[i])
		}
	}
}

// GenerateGreedy on the session continues as Model.Generate does, also
// when the session held another prompt before.
func TestSessionGenerate(t *testing.T) {
	m, err := Open(stories(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	lm := m.LM.(*sessionLM)
	prompt := []int{1, 403, 407, 261, 378, 260, 1148 % 512}
	want, err := m.m.Generate(prompt, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lm.GenerateGreedy(context.Background(), append(prompt[:4:4], 9, 9, 9), 5, nil, nil); err != nil {
		t.Fatal(err)
	}
	var seen []int
	got, err := lm.GenerateGreedy(context.Background(), prompt, 30, nil, func(tok int) bool { seen = append(seen, tok); return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(seen) != len(got) {
		t.Fatalf("generated %v, want %v (yield saw %v)", got, want, seen)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("generated %v, want %v", got, want)
		}
	}
	// yield returning false ends generation after that token.
	n := 0
	got, _ = lm.GenerateGreedy(context.Background(), prompt, 30, nil, func(int) bool { n++; return n < 3 })
	if len(got) != 3 {
		t.Errorf("stopped after %d tokens, want 3", len(got))
	}
}

// A few-shot Belebele run scores the same through the session as through
// the forward pass alone.
func TestSessionBelebele(t *testing.T) {
	m, err := Open(stories(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	task, err := eval.Builtin("belebele_deu_Latn")
	if err != nil {
		t.Fatal(err)
	}
	task.NumFewshot = 1
	opt := eval.Options{Limit: 3, PerItem: true}
	a, err := eval.Score(context.Background(), m.LM, tok, []*eval.Task{task}, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := eval.Score(context.Background(), m.LM.(*sessionLM).FuncLM, tok, []*eval.Task{task}, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range a.Tasks[0].Items {
		for j, c := range it.Choices {
			if d := c.LogLikelihood - b.Tasks[0].Items[i].Choices[j].LogLikelihood; math.Abs(d) > 1e-3 {
				t.Errorf("doc %d choice %d differs by %g", i, j, d)
			}
		}
	}
}

// Evaluators sharing one cached model score at the same time: one holds
// the session, the others take the forward pass or a fresh session, and
// every one gets the results it would get alone.
func TestSessionConcurrent(t *testing.T) {
	m, err := Open(stories(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	lm := m.LM.(*sessionLM)
	ctx := make([]int, 40)
	for i := range ctx {
		ctx[i] = 5 + (i*13)%400
	}
	reqs := []eval.Request{{Context: ctx, Continuation: []int{7}}, {Context: ctx, Continuation: []int{8, 9}}}
	want, err := lm.FuncLM.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	wantGen, err := m.m.Generate(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan string, 8)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for range 3 {
				got, err := lm.LogLikelihood(context.Background(), reqs)
				if err != nil {
					errs <- err.Error()
					return
				}
				for i := range got {
					if math.Abs(got[i].LogLikelihood-want[i].LogLikelihood) > 1e-3 {
						errs <- "log-likelihood differs"
						return
					}
				}
				gen, err := lm.GenerateGreedy(context.Background(), ctx, 8, nil, nil)
				if err != nil || len(gen) != len(wantGen) || gen[0] != wantGen[0] || gen[7] != wantGen[7] {
					errs <- "generation differs"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
