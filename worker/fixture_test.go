package worker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
)

// stories converts the vendored stories260K checkpoint and its tokenizer
// once per test binary and returns the model directory.
var stories = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "worker-stories-")
	if err != nil {
		return "", err
	}
	storiesTmp = dir
	src := "../testdata/stories260K"
	out := filepath.Join(dir, "stories260K")
	if err := model.ConvertLlama2C(filepath.Join(src, "stories260K.bin"), out); err != nil {
		return "", err
	}
	raw, err := os.ReadFile(filepath.Join(out, "config.json"))
	if err != nil {
		return "", err
	}
	var cfg struct {
		Vocab int `json:"vocab_size"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return "", err
	}
	if err := model.ConvertLlama2CTokenizer(filepath.Join(src, "tok512.bin"), out, cfg.Vocab); err != nil {
		return "", err
	}
	return out, nil
})

var storiesTmp string

func storiesDir(t testing.TB) string {
	t.Helper()
	d, err := stories()
	if err != nil {
		t.Fatalf("convert stories260K: %v", err)
	}
	return d
}

// linearSelf is a linear merge of stories260K with itself.
func linearSelf(dir string, w1, w2 string) []byte {
	return fmt.Appendf(nil, "merge_method: linear\ndtype: float32\nmodels:\n  - model: %s\n    parameters: {weight: %s}\n  - model: %s\n    parameters: {weight: %s}\n", dir, w1, dir, w2)
}

// storiesTasks are a perplexity and a multiple-choice task, weighted as an
// evolve run weighs them.
var storiesTasks = []Task{
	{Name: "stories_mc", Metric: "acc,none", Weight: 1},
	{Name: "stories_ppl", Metric: "word_perplexity,none", Weight: -0.01},
}
