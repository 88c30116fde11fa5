package eval

import (
	"fmt"
	"strings"
)

// fewshotSeed is lm-eval's fewshot_random_seed default.
const fewshotSeed = 1234

// renderContexts returns the contexts of the first n documents of t as
// lm-eval's fewshot_context renders them without a chat template: the
// description, NumFewshot solved examples (context, target delimiter,
// answer, few-shot delimiter; an example whose generation target is empty
// is its context alone) and the document's context. The examples come
// from FewshotDocs, else from Docs without the scored document, picked by
// FewshotSampler: the first ones (first_n), or Python's
// random.Random(1234).sample drawn document after document (default),
// n+1 of them when the pool is Docs so that the scored one can be dropped.
func renderContexts(t *Task, n int) ([]string, error) {
	out := make([]string, n)
	k := t.NumFewshot
	pool, fromDocs := t.FewshotDocs, false
	if k > 0 && len(pool) == 0 {
		if t.FewshotSplit != "" && t.FewshotSplit != "test" {
			return nil, fmt.Errorf("num_fewshot %d: the harness takes %s's few-shot examples from its %s split, which this task does not hold", k, t.Name, t.FewshotSplit)
		}
		pool, fromDocs = t.Docs, true
	}
	need := k
	if fromDocs && !t.FewshotKeepSelf {
		need = k + 1
	}
	if k > 0 && len(pool) < need {
		return nil, fmt.Errorf("num_fewshot %d needs %d documents to draw examples from, have %d", k, need, len(pool))
	}
	var rnd *pyRandom
	if t.FewshotSampler == "default" {
		rnd = newPyRandom(fewshotSeed)
	}
	for i := range out {
		var b strings.Builder
		b.WriteString(t.Description)
		if k > 0 {
			for _, j := range fewshotIndices(t, rnd, len(pool), fromDocs, i) {
				writeExample(&b, t, &pool[j])
			}
		}
		b.WriteString(t.Docs[i].Context)
		out[i] = b.String()
	}
	return out, nil
}

// fewshotIndices picks document i's examples from a pool of size n.
func fewshotIndices(t *Task, rnd *pyRandom, n int, fromDocs bool, i int) []int {
	k := t.NumFewshot
	drop := fromDocs && !t.FewshotKeepSelf
	var cand []int
	if rnd != nil {
		m := k
		if drop {
			m = k + 1
		}
		cand = rnd.sample(n, m)
	} else {
		cand = make([]int, 0, k+1)
		for j := 0; j < n && len(cand) < k+1; j++ {
			cand = append(cand, j)
		}
	}
	out := make([]int, 0, k)
	for _, j := range cand {
		if len(out) == k {
			break
		}
		if drop && j == i {
			continue
		}
		out = append(out, j)
	}
	return out
}

// writeExample writes one solved example (lm-eval's build_qa_turn).
func writeExample(b *strings.Builder, t *Task, ex *Doc) {
	b.WriteString(ex.Context)
	var answer string
	switch {
	case ex.Choices != nil:
		answer = ex.Choices[ex.Gold[0]]
	case ex.Target == "":
		return // no answer: the harness adds no delimiters either
	default:
		answer = ex.Target
	}
	b.WriteString(t.TargetDelimiter)
	b.WriteString(answer)
	b.WriteString(t.FewshotDelimiter)
}

// OcciglotPrompt turns a Belebele task into the prompt the occiglot Euro
// LLM Leaderboard scored (its March-2024 lm-evaluation-harness fork):
// "Answer：" with a full-width colon (U+FF1A) ends every context and every
// example, and the first_n sampler keeps the scored question among its
// own examples (the first NumFewshot rows for every question). Upstream
// fixed both (PR #2111, July 2024); scores with this prompt are the ones
// to compare with the leaderboard's column, not with today's harness.
func OcciglotPrompt(t *Task) error {
	if !strings.HasPrefix(t.Name, "belebele_") {
		return fmt.Errorf("eval: the occiglot prompt applies to Belebele tasks, not %s", t.Name)
	}
	fix := func(docs []Doc) error {
		for i := range docs {
			c, ok := strings.CutSuffix(docs[i].Context, "\nAnswer:")
			if !ok {
				return fmt.Errorf("eval: %s document %d does not end in \"\\nAnswer:\"", t.Name, i)
			}
			docs[i].Context = c + "\nAnswer："
		}
		return nil
	}
	if err := fix(t.Docs); err != nil {
		return err
	}
	if err := fix(t.FewshotDocs); err != nil {
		return err
	}
	t.FewshotKeepSelf = true
	return nil
}
