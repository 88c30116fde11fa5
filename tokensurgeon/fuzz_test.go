package tokensurgeon

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadModelFiles feeds tokenizer.json to LoadModelFiles and Diagnose as
// tokensurgeon reads it: a file LoadModelFiles accepts has ids a table can
// be sized by, one it refuses is an error finding of Diagnose, and neither
// panics.
func FuzzLoadModelFiles(f *testing.F) {
	for _, s := range []string{
		`{"added_tokens": [{"id": 0, "content": "<s>", "special": true}], "model": {"type": "BPE", "vocab": {"<s>": 0, "▁a": 1, "Ġb": 2}, "merges": []}}`,
		`{"model": {"type": "Unigram", "vocab": [["<s>", 0], ["a", -1]]}}`,
		`{"model": {"type": "BPE", "vocab": {"a": 0, "b": -1}}}`,
		`{"added_tokens": [{"id": -5, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`,
		`{"added_tokens": [{"id": 2147483653, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`,
		`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1000000000, "c": 3.5, "d": "7"}}}`,
		`{"added_tokens": [{"id": 4, "content": "d"}], "model": {"type": "BPE", "vocab": {"a": 0, "d": 3, "e": 3}}}`,
		`{"model": {"type": "BPE", "vocab": {}}}`,
		`{"model": {"type": "BPE", "vocab": {"a": 0, "b"`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir() // one per fuzz worker; its iterations run one by one
	tc := []byte(`{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "additional_special_tokens": ["<x>"]}`)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tc, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Diagnose(dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := LoadModelFiles(dir)
		if err != nil {
			if r.Errors() == 0 {
				t.Fatalf("LoadModelFiles refuses (%v) what Diagnose finds no error in", err)
			}
			return
		}
		if m.Tokenizer == nil {
			t.Fatal("no tokenizer")
		}
		if rows := m.VocabRows(); rows <= 0 || rows > 2*len(m.Vocab)+1024 {
			t.Fatalf("VocabRows %d for %d tokens", rows, len(m.Vocab))
		}
		for _, id := range normalizedVocab(m, nil) {
			if id < 0 || id >= m.VocabRows() {
				t.Fatalf("normalised id %d outside 0..%d", id, m.VocabRows()-1)
			}
		}
	})
}
