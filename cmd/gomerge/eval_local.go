package main

import (
	"context"
	"fmt"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/local"
	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/tensor"
)

// openLocalLM loads a model for `gomerge eval`: the in-process forward pass
// (eval/model) adapted as lm-eval feeds a model, and the model's tokenizer.
// A merge config (.yml, .yaml) is merged in memory as the forward pass reads
// its tensors — the candidate is scored without being written.
func openLocalLM(ctx context.Context, dir string, be tensor.Backend) (eval.LM, eval.Tokenizer, error) {
	var m *local.Model
	var err error
	if isConfigPath(dir) {
		var cfg *merge.Config
		if cfg, err = merge.LoadConfig(dir); err == nil {
			// Random methods need a seed; a fixed one keeps scores repeatable.
			m, err = local.Merge(ctx, cfg, local.Options{Hub: hub.NewClient(), Backend: be})
		}
		if err != nil {
			return nil, nil, fmt.Errorf("eval %s: %w", dir, err)
		}
	} else if m, err = local.Open(dir, local.Options{}); err != nil {
		return nil, nil, err
	}
	tok, err := m.Tokenizer()
	if err != nil {
		return nil, nil, err
	}
	return m.LM, tok, nil
}
