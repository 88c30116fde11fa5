package main

import (
	"fmt"

	"github.com/gomerge/gomerge/eval"
)

// openLocalLM loads a model directory for `gomerge eval`: a forward pass
// adapted with eval.FromLogits and the directory's tokenizer. Neither is
// in this build yet; --endpoint works meanwhile.
func openLocalLM(dir string) (eval.LM, eval.Tokenizer, error) {
	return nil, nil, fmt.Errorf("eval %s: scoring a local model directory is not available in this build (no forward pass yet); serve the model and use --endpoint URL", dir)
}
