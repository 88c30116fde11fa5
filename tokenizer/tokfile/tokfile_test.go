package tokfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const small = `{
  "version": "1.0",
  "truncation": null,
  "added_tokens": [
    {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 5, "content": "<extra>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false}
  ],
  "normalizer": {"type": "NFC"},
  "model": {"type": "BPE", "dropout": null, "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "c": 4}, "merges": ["a b", ["ab", "c"]]}
}`

func load(t *testing.T, doc string) *File {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestStripAndAdd(t *testing.T) {
	f := load(t, small)
	if v := f.Vocab(); len(v) != 6 || v["<extra>"] != 5 {
		t.Fatalf("vocab %v", v)
	}
	changed, err := f.Strip(4) // drops c (4), <extra> (5) and the merge ab+c
	if err != nil || !changed {
		t.Fatalf("strip: %v %v", changed, err)
	}
	if _, ok := f.Vocab()["c"]; ok {
		t.Error("c kept")
	}
	f.AddToken(AddedToken{Content: "new", Normalized: true})
	f.AddToken(AddedToken{Content: "a"}) // in the model vocab: keeps id 1
	v := f.Vocab()
	if v["new"] != 4 || v["a"] != 1 {
		t.Errorf("ids: new %d, a %d", v["new"], v["a"])
	}
	out, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{`"normalizer": {`, `"type": "NFC"`, `"a b"`} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, `"ab",`) {
		t.Errorf("merge ab+c kept:\n%s", s)
	}
	// Key order is the input's.
	if strings.Index(s, `"version"`) > strings.Index(s, `"added_tokens"`) || strings.Index(s, `"added_tokens"`) > strings.Index(s, `"model"`) {
		t.Errorf("key order changed:\n%s", s)
	}
	g := load(t, s)
	if len(g.Vocab()) != len(v) {
		t.Errorf("reloaded %d tokens, want %d", len(g.Vocab()), len(v))
	}
}

func TestStripNonBPE(t *testing.T) {
	doc := `{"added_tokens": [], "model": {"type": "Unigram", "vocab": [["<unk>", 0], ["a", -1.5], ["b", -2]]}}`
	f := load(t, doc)
	if f.Vocab()["b"] != 2 {
		t.Fatalf("unigram ids: %v", f.Vocab())
	}
	if _, err := f.Strip(2); err == nil || !strings.Contains(err.Error(), "only BPE") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(small))
	f.Add([]byte(`{"model": {"type": "Unigram", "vocab": [["x", 0]]}}`))
	for _, c := range hostile {
		f.Add([]byte(c.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := Parse(data, "tokenizer.json")
		if err != nil {
			return
		}
		// What Parse accepts passed CheckIDs: ids are bounded by the
		// number of tokens, so a table indexed by them is small.
		if err := CheckIDs(tf.Model, tf.Added); err != nil {
			t.Fatalf("Parse accepted a file CheckIDs refuses: %v", err)
		}
		if n, v := tf.NextID(), tf.Vocab(); n > 2*len(v)+idSlack || n <= 0 {
			t.Fatalf("NextID %d for %d tokens", n, len(v))
		}
		tf.Strip(3)
		tf.AddToken(AddedToken{Content: "z"})
		if _, err := tf.Encode(); err != nil {
			return
		}
	})
}
