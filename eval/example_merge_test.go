package eval_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/tokenizer"
)

// From a model directory to a merge and its score: convert Karpathy's
// stories260K (bundled in the repository's testdata) to a Hugging Face
// directory, frankenmerge it to six layers with passthrough slices, and
// score both models' perplexity on a sentence with the model's own
// tokenizer (tokenizer.json, which the merge copies).
func ExampleFromTokenizer() {
	dir, err := os.MkdirTemp("", "gomerge-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	stories := filepath.Join(dir, "stories")
	if err := model.ConvertLlama2C("../testdata/stories260K/stories260K.bin", stories); err != nil {
		log.Fatal(err)
	}
	if err := model.ConvertLlama2CTokenizer("../testdata/stories260K/tok512.bin", stories, 512); err != nil {
		log.Fatal(err)
	}

	cfg, err := merge.ParseConfig([]byte(`
merge_method: passthrough
slices:
  - sources: [{model: stories, layer_range: [0, 4]}]
  - sources: [{model: stories, layer_range: [3, 5]}]
dtype: float32
`), "franken.yml")
	if err != nil {
		log.Fatal(err)
	}
	merged := filepath.Join(dir, "merged")
	res, err := merge.Run(context.Background(), cfg, merged, merge.Options{PlanOptions: merge.PlanOptions{Dir: dir}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("merged:", res.Tensors, "tensors")

	docs, err := eval.ParseDocsJSONL(strings.NewReader(`{"text": "Once upon a time, there was a little girl named Lily."}`), "story.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	task := &eval.Task{Name: "story", Type: eval.Perplexity, Metrics: []string{"token_perplexity"}, Docs: docs}
	for _, d := range []string{stories, merged} {
		m, err := model.Open(d, model.Options{})
		if err != nil {
			log.Fatal(err)
		}
		tok, err := tokenizer.Load(d)
		if err != nil {
			log.Fatal(err)
		}
		lm := eval.FromLogitsBatch(m.LogitsBatch, m.VocabSize(), m.MaxPositions())
		rep, err := eval.Score(context.Background(), lm, eval.FromTokenizer(tok), []*eval.Task{task}, eval.Options{})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: token perplexity %.2f\n", filepath.Base(d), rep.Tasks[0].Metrics["token_perplexity"])
	}
	// Output:
	// merged: 56 tensors
	// stories: token perplexity 1.11
	// merged: token perplexity 1.25
}
