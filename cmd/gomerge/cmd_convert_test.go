package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/tokenizer"
)

// TestConvertStories260K converts the vendored stories260K checkpoint and
// its llama2.c tokenizer: the tokenizer.model written encodes run.c's
// greedy text to the ids the model generates greedily, and decodes them
// back; gomerge eval scores the converted model on German text.
func TestConvertStories260K(t *testing.T) {
	out := filepath.Join(t.TempDir(), "stories")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"convert-llama2c", "../../testdata/stories260K/stories260K.bin", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	tok, err := tokenizer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(out, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := m.Generate([]int{1}, 40)
	if err != nil {
		t.Fatal(err)
	}
	expected, err := os.ReadFile("../../testdata/stories260K/expected_greedy_200.txt")
	if err != nil {
		t.Fatal(err)
	}
	text := tok.Decode(gen, true)
	if !strings.HasPrefix(strings.TrimSpace(string(expected)), strings.TrimSpace(text)) {
		t.Fatalf("decoded greedy ids %q are not a prefix of run.c's text %q", text, expected)
	}
	first := strings.SplitAfter(string(expected), ".")[0]
	ids := tok.Encode(first, true)
	if !slices.Equal(ids[1:], gen[:len(ids)-1]) || ids[0] != 1 {
		t.Errorf("encoding %q gives %v, the model generated %v", first, ids, gen[:len(ids)-1])
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"eval", out, "--task", "de_ud_pud_order", "--limit", "10", "--json"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("eval: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"acc"`) {
		t.Errorf("eval report: %s", stdout.String())
	}
}
