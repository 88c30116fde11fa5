package eval_test

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/gomerge/gomerge/eval"
)

// letters is a toy tokenizer: one token per byte, BOS 1, EOS 2.
type letters struct{}

func (letters) Encode(s string) ([]int, error) {
	ids := make([]int, len(s))
	for i := range ids {
		ids[i] = int(s[i])
	}
	return ids, nil
}
func (letters) BOS() (int, bool) { return 1, true }
func (letters) EOS() (int, bool) { return 2, true }

// likesA is a forward pass over a 256-token vocabulary that prefers 'a':
// its logit is 2, every other token's 0.
func likesA(ids []int) ([]float32, error) {
	out := make([]float32, len(ids)*256)
	for i := range ids {
		out[i*256+'a'] = 2
	}
	return out, nil
}

func ExampleScore() {
	mc, err := eval.ParseTaskYAML([]byte(`
task: toy
output_type: multiple_choice
docs:
  - {context: "Welcher Buchstabe?", choices: [aaa, bbb, ab], gold: 0}
  - {context: "Und jetzt?", choices: [b, aa], gold: 0}
`), "toy.yaml")
	if err != nil {
		panic(err)
	}
	ppl, err := eval.ParseDocsJSONL(strings.NewReader(`{"text": "aaaa"}`), "toy.jsonl")
	if err != nil {
		panic(err)
	}
	tasks := []*eval.Task{mc, {Name: "toy_ppl", Type: eval.Perplexity, Metrics: []string{"token_perplexity"}, Docs: ppl}}
	lm := eval.FromLogits(likesA, 256, 2048)
	rep, err := eval.Score(context.Background(), lm, letters{}, tasks, eval.Options{})
	if err != nil {
		panic(err)
	}
	acc, _ := rep.Tasks[0].Metric("acc,none")
	fmt.Printf("acc %.2f ± %.2f\n", acc, rep.Tasks[0].Stderr["acc"])
	fmt.Printf("acc_norm %.2f ± %.2f\n", rep.Tasks[0].Metrics["acc_norm"], rep.Tasks[0].Stderr["acc_norm"])
	// Doc 1: " ab" has the highest log-likelihood, " aaa" the highest per
	// character; doc 2: " b" and " aa". p('a') = e²/(e²+255) for each of the
	// 4 tokens of "aaaa".
	fmt.Printf("token_perplexity %.4f (by hand %.4f)\n", rep.Tasks[1].Metrics["token_perplexity"], (math.Exp(2)+255)/math.Exp(2))
	// Output:
	// acc 0.50 ± 0.50
	// acc_norm 0.50 ± 0.50
	// token_perplexity 35.5105 (by hand 35.5105)
}

// A forward pass that scores continuation tokens itself gets each
// context+continuation with the continuation's length; here the
// distribution of likesA, where 'a' has probability e²/(e²+255).
func ExampleFromTailScores() {
	pA := math.Exp(2) / (math.Exp(2) + 255)
	score := func(seqs [][]int, tails []int) ([][]float64, [][]bool, error) {
		lps, greedy := make([][]float64, len(seqs)), make([][]bool, len(seqs))
		for s, ids := range seqs {
			for _, id := range ids[len(ids)-tails[s]:] {
				p := (1 - pA) / 255
				if id == 'a' {
					p = pA
				}
				lps[s] = append(lps[s], math.Log(p))
				greedy[s] = append(greedy[s], id == 'a')
			}
		}
		return lps, greedy, nil
	}
	lm := eval.FromTailScores(score, 64)
	res, err := lm.LogLikelihood(context.Background(), []eval.Request{
		{Context: []int{'x'}, Continuation: []int{'a', 'a'}},
		{Context: []int{'x'}, Continuation: []int{'b'}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res {
		fmt.Printf("%.3f %d %v\n", r.LogLikelihood, r.Tokens, r.IsGreedy)
	}
	// Output:
	// -7.140 2 true
	// -5.570 1 false
}

// The occiglot leaderboard's German column: Belebele 5-shot, and the
// prompt that leaderboard scored.
func ExamplePreset() {
	tasks, err := eval.Preset("occiglot-de")
	if err != nil {
		panic(err)
	}
	t := tasks[0]
	fmt.Println(t.Name, t.NumFewshot, t.Metrics)
	if err := eval.OcciglotPrompt(t); err != nil {
		panic(err)
	}
	ctx := t.Docs[0].Context
	fmt.Printf("%q\n", ctx[strings.LastIndex(ctx, "\n")+1:])
	fmt.Println(eval.Attribution("paws_de"))
	// Output:
	// belebele_deu_Latn 5 [acc acc_norm]
	// "Answer："
	// paws_de — the German test set of PAWS-X, 2000 sentence pairs (paraphrase or not), processed as lm-evaluation-harness's process_docs_paraphrases processes them. Licence: PAWS-X, Google LLC (free for any purpose; acknowledgement appreciated). Credit and sources: gomerge eval --license paws_de.
}

// MGSM's flexible-extract filter and exact_match options on a generated
// answer.
func ExampleFilter_Apply() {
	task, err := eval.Builtin("mgsm_direct_de")
	if err != nil {
		panic(err)
	}
	for _, f := range task.Filters {
		got, _ := f.Apply(" Sie verdient 1,800 Dollar.\n\n")
		fmt.Printf("%s: %q exact_match %v\n", f.Name, got, task.Match.ExactMatch(got, "1800"))
	}
	// Output:
	// remove_whitespace: "Sie verdient 1,800 Dollar." exact_match 0
	// flexible-extract: "1,800" exact_match 1
}
