package moe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/tokenizer"
)

// stories converts the bundled stories260K (a real tiny Llama trained by
// llama2.c) and its tokenizer into dir.
func stories(t *testing.T, dir string) {
	t.Helper()
	src := "../testdata/stories260K"
	if err := model.ConvertLlama2C(filepath.Join(src, "stories260K.bin"), dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Vocab int `json:"vocab_size"`
	}
	json.Unmarshal(raw, &cfg)
	if err := model.ConvertLlama2CTokenizer(filepath.Join(src, "tok512.bin"), dir, cfg.Vocab); err != nil {
		t.Fatal(err)
	}
}

// TestHiddenGatesRoute builds a hidden-gate Mixtral of two copies of
// stories260K whose positive prompts are stories and numbers, and routes
// held-out prompts of each kind: most layers send each to its expert.
func TestHiddenGatesRoute(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"base", "storyteller", "counter"} {
		stories(t, filepath.Join(dir, name))
	}
	yml := `base_model: base
gate_mode: hidden
dtype: float32
experts_per_token: 1
experts:
  - source_model: storyteller
    positive_prompts:
      - "Once upon a time, there was a little girl named Lily. She liked to play"
      - "The dog was happy. He ran to the park with his friend and"
      - "Tom and Sue went to the store. Mom said they could buy a"
  - source_model: counter
    positive_prompts:
      - "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
      - "11 12 13 14 15 16 17 18"
      - "100, 200, 300, 400, 500"
`
	out, _ := build(t, dir, yml, PlanOptions{}, Options{CopyTokenizer: true})
	m, err := model.Open(out, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	for want, prompts := range [][]string{
		{"One day, a little boy saw a big red ball in the garden.", "The bird sang a song in the tree and the sun"},
		{"21, 22, 23, 24, 25, 26, 27", "7 8 9 10 11 12 13 14"},
	} {
		for _, p := range prompts {
			routes, err := m.Route(tok.Encode(p, true))
			if err != nil {
				t.Fatal(err)
			}
			hits := 0
			for _, r := range routes {
				if r.Experts[len(r.Experts)-1][0] == want {
					hits++
				}
			}
			t.Logf("%q: expert %d in %d of %d layers", p, want, hits, len(routes))
			if len(routes) == 0 || 2*hits <= len(routes) {
				t.Errorf("%q went to expert %d in only %d of %d layers", p, want, hits, len(routes))
			}
		}
	}
}
