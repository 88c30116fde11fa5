package local

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/gomerge/gomerge/eval"
)

// BenchmarkBelebele5Shot scores the first GOMERGE_BENCH_DOCS (default 50)
// questions of belebele_deu_Latn 5-shot on the model in
// GOMERGE_BENCH_MODEL (skipped without one), through the session (KV
// reuse of the five-shot prefix) and through the batched forward pass
// alone. bench/README.md has the figures and how the model was made.
func BenchmarkBelebele5Shot(b *testing.B) {
	dir := os.Getenv("GOMERGE_BENCH_MODEL")
	if dir == "" {
		b.Skip("GOMERGE_BENCH_MODEL not set")
	}
	docs := 50
	if s := os.Getenv("GOMERGE_BENCH_DOCS"); s != "" {
		docs, _ = strconv.Atoi(s)
	}
	m, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := m.Tokenizer()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		lm   eval.LM
	}{{"session", m.LM}, {"forward", m.LM.(*sessionLM).FuncLM}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				task, err := eval.Builtin("belebele_deu_Latn")
				if err != nil {
					b.Fatal(err)
				}
				task.NumFewshot = 5
				if _, err := eval.Score(context.Background(), c.lm, tok, []*eval.Task{task}, eval.Options{Limit: docs}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N*docs), "s/question")
		})
	}
}
