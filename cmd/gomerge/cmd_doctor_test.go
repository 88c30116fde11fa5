package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
)

// TestDoctorAndAlign plants an EOS mismatch (the chat template ends turns
// with <|im_end|>, generation stops at </s>), finds it, fixes it with
// tokensurgeon --align-special and finds nothing on a second run.
func TestDoctorAndAlign(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	testmodel.Must(t.Fatal, dir, testmodel.Spec{Vocab: 8, Layers: 1, Seed: 1})
	tok := `{"added_tokens": [{"id": 0, "content": "</s>", "special": true}, {"id": 7, "content": "<|im_end|>", "special": true}],
	  "model": {"type": "BPE", "vocab": {"</s>": 0, "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}, "merges": []}}`
	tc := map[string]any{"eos_token": "</s>", "chat_template": "{% for m in messages %}{{ m['content'] + '<|im_end|>' }}{% endfor %}"}
	b, _ := json.Marshal(tc)
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(tok), 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id": 0}`), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"doctor", dir, "--json"}, &stdout, &stderr); code != exitFailed {
		t.Fatalf("exit %d, want %d: %s", code, exitFailed, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"turn-end"`) {
		t.Fatalf("report lacks turn-end:\n%s", stdout.String())
	}
	out := filepath.Join(t.TempDir(), "fixed")
	if code := run(context.Background(), []string{"tokensurgeon", "--align-special", dir, out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("align exit %d: %s", code, stderr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"doctor", out}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "no problems") {
		t.Fatalf("second doctor: exit %d\n%s", code, stdout.String())
	}
	if code := run(context.Background(), []string{"tokensurgeon", dir, dir}, &stdout, &stderr); code != exitUsage {
		t.Errorf("tokensurgeon with two arguments: exit %d, want %d", code, exitUsage)
	}
}
