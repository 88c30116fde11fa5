package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

// TestFromJSONRefusesHostileIDs: the ids that size tables are checked by
// tokfile.CheckBounds before anything is allocated (issue 12).
func TestFromJSONRefusesHostileIDs(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"vocab id -1", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": -1}}}`, `token "b": id -1 is negative`},
		{"added id -5", `{"added_tokens": [{"id": -5, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, `token "<x>": id -5 is negative`},
		{"vocab id 1e9", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1000000000}}}`, `id 1000000000 is out of range`},
		{"added id 2^31+5", `{"added_tokens": [{"id": 2147483653, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, `id 2147483653 is out of range`},
		{"vocab id 3.5", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 3.5}}}`, `token "b": id 3.5 is not an integer`},
		{"vocab id string", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": "7"}}}`, `token "b": id "7" is not an integer`},
		{"added id string", `{"added_tokens": [{"id": "7", "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, `token "<x>": id "7"`},
		{"vocab id null", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": null}}}`, `token "b": id null is not an integer`},
		{"two tokens one id", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 1}}}`, `id 1 is also the id of token "b"`},
		{"empty vocab", `{"model": {"type": "BPE", "vocab": {}, "merges": []}}`, "vocabulary is empty"},
		{"empty unigram", `{"model": {"type": "Unigram", "vocab": []}}`, "vocabulary is empty"},
		{"unigram with a huge added id", `{"added_tokens": [{"id": 16777216, "content": "<x>"}], "model": {"type": "Unigram", "vocab": [["a", 0]]}}`, "out of range"},
		{"truncated", `{"model": {"type": "BPE", "vocab": {"a": 0, "b"`, "unexpected end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromJSON([]byte(c.doc))
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrFormat and %q", err, c.want)
			}
		})
	}
}

// TestLoadRefusesHugeAndBadFiles: Load names the file, refuses a
// tokenizer.json over tokfile.MaxFileSize without reading it (a sparse
// file), and refuses side files whose special tokens are not tokens.
func TestLoadRefusesHugeAndBadFiles(t *testing.T) {
	const ok = `{"model": {"type": "BPE", "vocab": {"<s>": 0, "a": 1}}}`
	cases := []struct {
		name  string
		files map[string]string
		size  int64 // > 0: truncate tokenizer.json to this size
		want  string
	}{
		{"huge tokenizer.json", map[string]string{"tokenizer.json": ok}, 600 << 20, "file too large"},
		{"bad id", map[string]string{"tokenizer.json": `{"model": {"type": "BPE", "vocab": {"a": -1}}}`}, 0, "tokenizer.json: tokenizer: malformed"},
		{"bos_token 5", map[string]string{"tokenizer.json": ok, "tokenizer_config.json": `{"bos_token": 5}`}, 0, "tokenizer_config.json: bos_token: 5 is not a token"},
		{"bos_token list", map[string]string{"tokenizer.json": ok, "special_tokens_map.json": `{"bos_token": ["<s>"]}`}, 0, `special_tokens_map.json: bos_token: ["<s>"] is not a token`},
		{"huge tokenizer.model", map[string]string{"tokenizer.model": "x"}, 0, "file too large"},
		{"broken chat_template.jinja", map[string]string{"tokenizer.json": ok, "chat_template.jinja": "{% if x %}"}, 0, "chat_template.jinja: chat template line 1: {% if %} is never closed"},
		{"broken chat_template", map[string]string{"tokenizer.json": ok, "tokenizer_config.json": `{"chat_template": "{{ x"}`}, 0, "tokenizer_config.json: chat_template: chat template line 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, doc := range c.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c.size > 0 {
				os.Truncate(filepath.Join(dir, "tokenizer.json"), c.size)
			}
			if _, ok := c.files["tokenizer.model"]; ok {
				os.Truncate(filepath.Join(dir, "tokenizer.model"), tokfile.MaxFileSize+1)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("err = %v, want %q and the directory", err, c.want)
			}
		})
	}
}

// TestSentencePieceRefusesRepeatedPiece: sentencepiece refuses a model that
// defines a piece twice ("is already defined"); so does the loader.
func TestSentencePieceRefusesRepeatedPiece(t *testing.T) {
	piece := []byte{0x0a, 0x08, 0x0a, 0x01, 'a', 0x15, 0, 0, 0x80, 0xbf}
	_, err := ParseSentencePiece(append(append([]byte{}, piece...), piece...))
	var ie *tokfile.IDError
	if !errors.As(err, &ie) || ie.Problem != tokfile.IDTwice || !strings.Contains(err.Error(), `piece 1 "a"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := ParseSentencePiece(piece); err != nil {
		t.Fatal(err)
	}
}
