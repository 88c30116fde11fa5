package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/tokensurgeon"
)

// goodTokenizer is a 64-token BPE tokenizer.json for a 64-row model; %s
// takes the vocabulary's extra entries and added_tokens' extra entries.
const goodTokenizer = `{"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}%s],
  "model": {"type": "BPE", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, %s%s}, "merges": []}}`

func tokenizerJSON(extraAdded, extraVocab string, skip int) string {
	var v []string
	for i := 3; i < 64; i++ {
		if i != skip {
			v = append(v, fmt.Sprintf(`"t%d": %d`, i, i))
		}
	}
	return fmt.Sprintf(goodTokenizer, extraAdded, strings.Join(v, ", "), extraVocab)
}

const goodTokenizerConfig = `{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
  "chat_template": "{% for m in messages %}{{ m['content'] }}{% if not loop.last %}{{ '\\n' }}{% endif %}{% endfor %}"}`

// hostileModel writes a 64-row Llama whose token files are the good ones
// with tok (tokenizer.json) or tc (tokenizer_config.json) replacing them
// when not empty, tokenizer.json grown to size bytes when size > 0, and
// chat_template.jinja when jinja is not empty.
func hostileModel(t *testing.T, dir, tok, tc, jinja string, size int64, seed uint64) string {
	t.Helper()
	testmodel.Must(t.Fatal, dir, testmodel.Spec{Vocab: 64, Hidden: 16, Intermediate: 32, Layers: 1, Heads: 2, KVHeads: 1, Seed: seed})
	if tok == "" {
		tok = tokenizerJSON("", "", -1)
	}
	if tc == "" {
		tc = goodTokenizerConfig
	}
	for name, doc := range map[string]string{"tokenizer.json": tok, "tokenizer_config.json": tc,
		"generation_config.json": `{"bos_token_id": 1, "eos_token_id": 2}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if jinja != "" {
		if err := os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(jinja), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if size > 0 {
		if err := os.Truncate(filepath.Join(dir, "tokenizer.json"), size); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHostileTokenFiles runs every tool that reads token files on the
// defects of issue 12 (items 3 and 10): each refuses them with an error
// naming the file, none panics or runs out of memory, and doctor reports
// each as an error finding with a fix.
func TestHostileTokenFiles(t *testing.T) {
	cases := []struct {
		name, tok, tc string
		jinja         string // chat_template.jinja
		size          int64
		check, file   string // doctor's finding; the file errors name
		// tokenizeOK: gomerge tokenize loads it as the Rust tokenizers
		// crate does (it ignores added_tokens' ids).
		tokenizeOK bool
		// sideFile: the defect is in a side file, which merge reads only
		// from the model whose tokenizer it writes.
		sideFile bool
	}{
		{name: "vocab id -1", tok: tokenizerJSON("", `, "t63": -1`, 63), check: "token-id", file: "tokenizer.json"},
		{name: "added id -5", tok: tokenizerJSON(`, {"id": -5, "content": "<x>"}`, "", -1), check: "token-id", file: "tokenizer.json"},
		{name: "vocab id 1e9", tok: tokenizerJSON("", `, "t63": 1000000000`, 63), check: "token-id", file: "tokenizer.json"},
		{name: "added id 2^31 plus 5", // no "+" in the path: it names a LoRA
			tok: tokenizerJSON(`, {"id": 2147483653, "content": "<x>"}`, "", -1), check: "token-id", file: "tokenizer.json"},
		{name: "vocab id 3.5", tok: tokenizerJSON("", `, "t63": 3.5`, 63), check: "token-id", file: "tokenizer.json"},
		{name: "vocab id string", tok: tokenizerJSON("", `, "t63": "7"`, 63), check: "token-id", file: "tokenizer.json"},
		{name: "vocab id null", tok: tokenizerJSON("", `, "t63": null`, 63), check: "token-id", file: "tokenizer.json"},
		{name: "added id missing", tok: tokenizerJSON(`, {"content": "<x>"}`, "", -1), check: "token-id", file: "tokenizer.json"},
		{name: "two tokens one id", tok: tokenizerJSON("", `, "t63": 5`, 63), check: "token-id-clash", file: "tokenizer.json"},
		{name: "vocab 3 added 4", tok: tokenizerJSON(`, {"id": 4, "content": "t3"}`, "", -1), check: "added-token-id", file: "tokenizer.json", tokenizeOK: true},
		{name: "empty vocab", tok: `{"added_tokens": [], "model": {"type": "BPE", "vocab": {}, "merges": []}}`, check: "vocab-empty", file: "tokenizer.json"},
		{name: "truncated", tok: tokenizerJSON("", "", -1)[:200], check: "tokenizer-json", file: "tokenizer.json"},
		{name: "600 MiB", size: 600 << 20, check: "tokenizer-size", file: "tokenizer.json"},
		{name: "bos_token 5", tc: `{"bos_token": 5, "eos_token": "</s>"}`, check: "special-token-type", file: "tokenizer_config.json", sideFile: true},
		{name: "bos_token list", tc: `{"bos_token": ["<s>"], "eos_token": "</s>"}`, check: "special-token-type", file: "tokenizer_config.json", sideFile: true},
		{name: "broken chat template", tc: `{"bos_token": "<s>", "chat_template": "{% for m in messages %}{{ m['content'] }}{% if m %}x{% endfor %}"}`,
			check: "chat-template-syntax", file: "tokenizer_config.json", sideFile: true},
		{name: "broken chat_template.jinja", jinja: "{% for m in messages %}{{ m['content'] }\n", check: "chat-template-syntax", file: "chat_template.jinja", sideFile: true},
	}
	root := t.TempDir()
	good := hostileModel(t, filepath.Join(root, "good"), "", "", "", 0, 1)
	// The harness can fail: the good model passes every tool.
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"doctor", good}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "no problems") {
		t.Fatalf("doctor on the good model: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if code := run(context.Background(), []string{"tokensurgeon", good, good, filepath.Join(root, "good-out"), "--approximation-method", "mean"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("tokensurgeon on the good model: exit %d\n%s", code, stderr.String())
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := hostileModel(t, filepath.Join(dir, "bad"), c.tok, c.tc, c.jinja, c.size, uint64(i+2))
			tool := func(want int, args ...string) string {
				t.Helper()
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, &stdout, &stderr)
				if code != want || (want != exitOK && !strings.Contains(stdout.String()+stderr.String(), c.file)) {
					t.Errorf("gomerge %s: exit %d, want %d and an error naming %s; stderr:\n%s", strings.Join(args, " "), code, want, c.file, stderr.String())
				}
				return stdout.String()
			}

			// doctor: an error finding with its fix.
			var r tokensurgeon.Report
			if err := json.Unmarshal([]byte(tool(exitFailed, "doctor", bad, "--json")), &r); err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(r.Findings, func(f tokensurgeon.Finding) bool {
				return f.Check == c.check && f.Severity == tokensurgeon.Error && f.Fix != "" && strings.Contains(f.Message, c.file)
			}) {
				t.Errorf("doctor findings %+v, want an error %s naming %s with a fix", r.Findings, c.check, c.file)
			}
			if text := tool(exitFailed, "doctor", good, bad); !strings.Contains(text, c.check) {
				t.Errorf("doctor on two models:\n%s", text)
			}

			// tokenize.
			stdin = strings.NewReader("t3 t4\n")
			if c.tokenizeOK {
				tool(exitOK, "tokenize", "--tokenizer", bad)
			} else {
				tool(exitFailed, "tokenize", "--tokenizer", bad)
			}

			// tokensurgeon: transplant either way, --align-special alone
			// and with the bad model as donor. Nothing is written.
			for k, args := range [][]string{
				{"tokensurgeon", good, bad, "OUT", "--approximation-method", "mean"},
				{"tokensurgeon", bad, good, "OUT", "--approximation-method", "mean"},
				{"tokensurgeon", "--align-special", bad, "OUT"},
				{"tokensurgeon", "--align-special", good, bad, "OUT"},
			} {
				out := filepath.Join(dir, fmt.Sprintf("surgeon%d", k))
				args[slices.Index(args, "OUT")] = out
				tool(exitFailed, args...)
				if _, err := os.Stat(out); err == nil {
					t.Errorf("gomerge %s left %s", strings.Join(args, " "), out)
				}
			}

			// merge with tokenizer_source: union, the bad model as base
			// and as the other model.
			for k, pair := range [][2]string{{bad, good}, {good, bad}} {
				cfg := filepath.Join(dir, fmt.Sprintf("merge%d.yml", k))
				doc := fmt.Sprintf("merge_method: linear\nbase_model: %s\ntokenizer_source: union\nmodels:\n  - model: %s\n    parameters: {weight: 1}\n  - model: %s\n    parameters: {weight: 1}\n", pair[0], pair[0], pair[1])
				if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, fmt.Sprintf("merged%d", k))
				if c.sideFile && pair[0] == good {
					// The other model's side files do not reach the
					// output: the merge may succeed.
					var stdout, stderr bytes.Buffer
					if code := run(context.Background(), []string{cfg, out, "--quiet"}, &stdout, &stderr); code != exitOK && code != exitFailed && code != exitUsage {
						t.Errorf("merge with the bad model second: exit %d\n%s", code, stderr.String())
					}
					continue
				}
				tool(exitUsage, cfg, out, "--quiet")
				if _, err := os.Stat(out); err == nil {
					t.Errorf("failed merge left %s", out)
				}
			}
		})
	}
}
