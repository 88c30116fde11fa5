package main

import (
	"fmt"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/model"
)

// openLocalLM loads a model directory for `gomerge eval`: the in-process
// forward pass (eval/model) adapted as lm-eval feeds a model, and the
// directory's tokenizer.
func openLocalLM(dir string) (eval.LM, eval.Tokenizer, error) {
	m, err := model.Open(dir, model.Options{})
	if err != nil {
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
	return nil, fmt.Errorf("eval %s: this task has text, and this build has no tokenizer for the model; give the task as token ids", t.dir)
}

func (t idsOnly) BOS() (int, bool) { return t.bos, t.bos >= 0 }
func (t idsOnly) EOS() (int, bool) { return t.eos, t.eos >= 0 }

func openTokenizer(dir string, m *model.Model) (eval.Tokenizer, error) {
	eos := -1
	if e := m.EOS(); len(e) > 0 {
		eos = e[0]
	}
	return idsOnly{dir: dir, bos: m.BOS(), eos: eos}, nil
}
