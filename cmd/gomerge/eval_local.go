package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/tokenizer"
)

// openLocalLM loads a model for `gomerge eval`: the in-process forward pass
// (eval/model) adapted as lm-eval feeds a model, and the model's tokenizer.
// A merge config (.yml, .yaml) is merged in memory as the forward pass reads
// its tensors — the candidate is scored without being written.
func openLocalLM(ctx context.Context, dir string) (eval.LM, eval.Tokenizer, error) {
	var m *model.Model
	var err error
	if ext := filepath.Ext(dir); ext == ".yml" || ext == ".yaml" {
		var tokDir string
		if m, tokDir, err = mergeInMemory(ctx, dir); err != nil {
			return nil, nil, fmt.Errorf("eval %s: %w", dir, err)
		}
		dir = tokDir
	} else if m, err = model.Open(dir, model.Options{}); err != nil {
		return nil, nil, fmt.Errorf("eval %s: %w", dir, err)
	}
	lm := eval.FromLogitsBatch(m.LogitsBatch, m.VocabSize(), m.MaxPositions())
	tok, err := openTokenizer(dir, m)
	if err != nil {
		return nil, nil, err
	}
	return lm, tok, nil
}

// idsOnly serves tasks given as token ids ({"ids": [...]}): it knows the
// model's BOS and EOS, and refuses text.
type idsOnly struct {
	dir      string
	bos, eos int
}

func (t idsOnly) Encode(string) ([]int, error) {
	return nil, fmt.Errorf("eval %s: this task has text, but the model has no tokenizer.json or tokenizer.model; give the task as token ids", t.dir)
}

func (t idsOnly) BOS() (int, bool) { return t.bos, t.bos >= 0 }
func (t idsOnly) EOS() (int, bool) { return t.eos, t.eos >= 0 }

// hfTokenizer is the model directory's tokenizer (tokenizer.json or
// tokenizer.model) as eval uses one: no special tokens added by Encode.
type hfTokenizer struct{ t *tokenizer.Tokenizer }

func (h hfTokenizer) Encode(text string) ([]int, error) { return h.t.Encode(text, false), nil }

func (h hfTokenizer) BOS() (int, bool) {
	r := h.t.Special().BOS
	return r.ID, r.Found
}

func (h hfTokenizer) EOS() (int, bool) {
	r := h.t.Special().EOS
	return r.ID, r.Found
}

// openTokenizer loads the directory's tokenizer; a directory without one
// can still score tasks given as ids.
func openTokenizer(dir string, m *model.Model) (eval.Tokenizer, error) {
	t, err := tokenizer.Load(dir)
	if err == nil {
		return hfTokenizer{t}, nil
	}
	if !hasTokenizerFiles(dir) {
		eos := -1
		if e := m.EOS(); len(e) > 0 {
			eos = e[0]
		}
		return idsOnly{dir: dir, bos: m.BOS(), eos: eos}, nil
	}
	return nil, fmt.Errorf("eval %s: %w", dir, err)
}

func hasTokenizerFiles(dir string) bool {
	for _, f := range []string{"tokenizer.json", "tokenizer.model"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// mergeInMemory plans a merge config and loads its output straight into
// the forward pass; it returns the model and the directory whose tokenizer
// the merge would copy.
func mergeInMemory(ctx context.Context, path string) (*model.Model, string, error) {
	cfg, err := merge.LoadConfig(path)
	if err != nil {
		return nil, "", err
	}
	plan, err := merge.NewPlanContext(ctx, cfg, merge.PlanOptions{Hub: hub.NewClient()})
	if err != nil {
		return nil, "", err
	}
	defer plan.Close()
	cj, err := plan.ConfigJSON()
	if err != nil {
		return nil, "", err
	}
	// Random methods need a seed; a fixed one keeps scores repeatable.
	m, err := model.Load(cj, plan.SourceContext(ctx, merge.Options{Seed: 0}), model.Options{})
	if err != nil {
		return nil, "", err
	}
	return m, plan.Donor.Dir, nil
}
