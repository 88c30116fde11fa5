package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/local"
	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/tensor"
)

// openLocalLM loads a model for `gomerge eval`: the in-process forward pass
// (eval/model) adapted as lm-eval feeds a model, and the model's tokenizer.
// A merge config (.yml, .yaml) is merged in memory as the forward pass reads
// its tensors — the candidate is scored without being written. With a GPU
// backend the scoring forward pass of a dense model runs there too (a
// model it cannot run stays on the CPU, with a notice on stderr); close
// frees the GPU's copy. bf16Dot is local.Options.BF16Dot.
func openLocalLM(ctx context.Context, dir string, be tensor.Backend, bf16Dot bool, stderr io.Writer) (lm eval.LM, tok eval.Tokenizer, close func() error, err error) {
	opt := local.Options{BF16Dot: bf16Dot, Accelerator: accelerator(be), Notice: func(err error) { fmt.Fprintf(stderr, "gomerge: %v\n", err) }}
	var m *local.Model
	if isConfigPath(dir) {
		var cfg *merge.Config
		if cfg, err = merge.LoadConfig(dir); err == nil {
			// Random methods need a seed; a fixed one keeps scores repeatable.
			opt.Hub, opt.Backend = hub.NewClient(), be
			m, err = local.Merge(ctx, cfg, opt)
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("eval %s: %w", dir, err)
		}
	} else if m, err = local.Open(dir, opt); err != nil {
		return nil, nil, nil, err
	}
	if tok, err = m.Tokenizer(); err != nil {
		m.Close()
		return nil, nil, nil, err
	}
	return m.LM, tok, m.Close, nil
}
