package tokfile

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hostile are tokenizer.json files every reader must refuse, with the
// problem CheckIDs or the decoders report and a text the error must hold.
var hostile = []struct {
	name, doc string
	problem   IDProblem // 0: not an *IDError
	empty     bool      // wraps ErrEmptyVocab
	want      string
}{
	{"vocab id -1", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": -1}}}`, IDNegative, false, `"b": id -1 is negative`},
	{"added id -5", `{"added_tokens": [{"id": -5, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDNegative, false, `added_tokens[0]: token "<x>": id -5`},
	{"vocab id 1e9", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1000000000}}}`, IDTooLarge, false, `"b": id 1000000000 is out of range`},
	{"vocab id 1e9 written 1e9", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1e9}}}`, IDNotInteger, false, `"b": id 1e9 is not an integer`},
	{"added id 2^31+5", `{"added_tokens": [{"id": 2147483653, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDTooLarge, false, `id 2147483653 is out of range`},
	{"added id far beyond the vocabulary", `{"added_tokens": [{"id": 5000, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDTooLarge, false, `id 5000 is out of range (the ids of a vocabulary this size are below 1028`},
	{"vocab id 2^31+5", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 2147483653}}}`, IDTooLarge, false, `"b": id 2147483653`},
	{"vocab id 2^64", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 18446744073709551616}}}`, IDTooLarge, false, `"b": id 18446744073709551616`},
	{"vocab id 3.5", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 3.5}}}`, IDNotInteger, false, `"b": id 3.5 is not an integer`},
	{"vocab id string", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": "7"}}}`, IDNotInteger, false, `"b": id "7" is not an integer`},
	{"added id 3.5", `{"added_tokens": [{"id": 0, "content": "a"}, {"id": 3.5, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDNotInteger, false, `added_tokens[1]: token "<x>": id 3.5`},
	{"added id string", `{"added_tokens": [{"id": "7", "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDNotInteger, false, `token "<x>": id "7"`},
	{"vocab id null", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": null}}}`, IDNotInteger, false, `"b": id null is not an integer`},
	{"vocab id true", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": true}}}`, IDNotInteger, false, `"b": id true is not an integer`},
	{"vocab id object", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": {"id": 1}}}}`, IDNotInteger, false, `"b": id {"id": 1} is not an integer`},
	{"added id null", `{"added_tokens": [{"id": null, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDNotInteger, false, `token "<x>": id null`},
	{"added id missing", `{"added_tokens": [{"content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDNotInteger, false, `token "<x>": id (missing)`},
	{"added content not a string", `{"added_tokens": [{"id": 1, "content": 5}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, 0, false, `added_tokens[0]: content 5 is not a string`},
	{"added flag not a bool", `{"added_tokens": [{"id": 1, "content": "<x>", "special": "yes"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, 0, false, `added_tokens[0] "<x>"`},
	{"added id beyond int64", `{"added_tokens": [{"id": 99999999999999999999, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDTooLarge, false, `id 99999999999999999999 is out of range`},
	{"two tokens one id", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 1}}}`, IDShared, false, `token "c": id 1 is also the id of token "b"`},
	{"vocab 3 added 4", `{"added_tokens": [{"id": 4, "content": "d"}], "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "d": 3}}}`, IDTwice, false, `token "d": id 4, but model.vocab gives it id 3`},
	{"added twice", `{"added_tokens": [{"id": 1, "content": "<x>"}, {"id": 2, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDTwice, false, `added_tokens[0] gives it id 1`},
	{"added on a model id", `{"added_tokens": [{"id": 0, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDShared, false, `token "<x>": id 0 is also the id of token "a"`},
	{"two added one id", `{"added_tokens": [{"id": 1, "content": "<x>"}, {"id": 1, "content": "<y>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`, IDShared, false, `token "<y>": id 1 is also the id of token "<x>"`},
	{"empty vocab", `{"added_tokens": [], "model": {"type": "BPE", "vocab": {}, "merges": []}}`, 0, true, "vocabulary is empty"},
	{"null vocab", `{"model": {"type": "BPE", "vocab": null}}`, 0, true, "vocabulary is empty"},
	{"empty unigram", `{"model": {"type": "Unigram", "vocab": []}}`, 0, true, "vocabulary is empty"},
	{"truncated", `{"added_tokens": [], "model": {"type": "BPE", "vocab": {"a": 0, "b"`, 0, false, "unexpected end of JSON input"},
	{"added not a list", `{"added_tokens": 5, "model": {"type": "BPE", "vocab": {"a": 0}}}`, 0, false, "added_tokens"},
}

func TestParseRefusesHostileIDs(t *testing.T) {
	for _, c := range hostile {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "dir/tokenizer.json")
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "dir/tokenizer.json: ") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want the file and %q", msg, c.want)
			}
			var ie *IDError
			switch {
			case c.problem != 0 && (!errors.As(err, &ie) || ie.Problem != c.problem):
				t.Errorf("error %v is not an IDError with problem %d", err, c.problem)
			case c.problem == 0 && errors.As(err, &ie):
				t.Errorf("error %v is an IDError", err)
			}
			if got := errors.Is(err, ErrEmptyVocab); got != c.empty {
				t.Errorf("errors.Is(ErrEmptyVocab) = %v", got)
			}
		})
	}
}

// TestCheckIDsAcceptsRealLayouts: gaps and repeats that real tokenizers
// have pass.
func TestCheckIDsAcceptsRealLayouts(t *testing.T) {
	vocab := func(n int) map[string]int {
		m := make(map[string]int, n)
		for i := range n {
			m["t"+strconv.Itoa(i)] = i
		}
		return m
	}
	cases := []struct {
		name  string
		model map[string]int
		added []AddedToken
	}{
		// Llama-3: 128000 tokens, 256 added (reserved) right after.
		{"llama3 reserved range", vocab(128000), func() []AddedToken {
			var a []AddedToken
			for i := range 256 {
				a = append(a, AddedToken{ID: 128000 + i, Content: "<|reserved_special_token_" + strconv.Itoa(i) + "|>"})
			}
			return a
		}()},
		// Qwen: added tokens from 151643 on, and special tokens that
		// repeat model tokens with the same id.
		{"added after the vocabulary", vocab(1000), []AddedToken{{ID: 1000, Content: "<|endoftext|>"}, {ID: 1001, Content: "<|im_start|>"}, {ID: 0, Content: "t0"}}},
		{"small gap", vocab(10), []AddedToken{{ID: 600, Content: "<pad>"}}},
		{"same token listed twice alike", vocab(3), []AddedToken{{ID: 3, Content: "<s>"}, {ID: 3, Content: "<s>"}}},
	}
	for _, c := range cases {
		if err := CheckIDs(c.model, c.added); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestVendoredTokenizersPass loads the real tokenizer.json files of the
// repository (and of ../shared when present) through Parse.
func TestVendoredTokenizersPass(t *testing.T) {
	paths, _ := filepath.Glob("../../testdata/tokenizers/*/tokenizer.json.gz")
	if !testing.Short() {
		shared, _ := filepath.Glob("../../../shared/testdata/tokenizers/*/tokenizer.json.gz")
		paths = append(paths, shared...)
	}
	if len(paths) < 2 {
		t.Fatalf("found %d vendored tokenizers", len(paths))
	}
	for _, p := range paths {
		gz, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		data, err := ReadAllLimited(zr, p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(data, p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		t.Logf("%s: %d tokens", p, len(f.Vocab()))
	}
}

// TestLoadRefusesHugeFile: a file over MaxFileSize is refused from its
// size, before it is read (the file is sparse: nothing is written).
func TestLoadRefusesHugeFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(p, []byte(`{"model": {"vocab": {"a": 0}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 600<<20); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want ErrTooLarge naming %s", err, p)
	}
	if _, err := ReadAllLimited(strings.NewReader(strings.Repeat(" ", 100)), "x"); err != nil {
		t.Fatal(err)
	}
}

func TestCheckConfig(t *testing.T) {
	cases := []struct {
		doc, want string // want "": valid
	}{
		{`{"bos_token": "<s>", "eos_token": {"content": "</s>", "lstrip": false}, "pad_token": null, "add_bos_token": true}`, ""},
		{`{"chat_template": [{"name": "default", "template": "x"}], "additional_special_tokens": ["<a>", {"content": "<b>"}]}`, ""},
		{`{"bos_token": 5}`, "bos_token: 5 is not a token"},
		{`{"bos_token": ["<s>"]}`, `bos_token: ["<s>"] is not a token`},
		{`{"eos_token": {"id": 2}}`, "eos_token"},
		{`{"additional_special_tokens": [1]}`, "additional_special_tokens[0]"},
		{`{"chat_template": 7}`, "chat_template"},
		{`{"chat_template": [{"name": "default"}]}`, "chat_template[0]"},
		{`[1]`, "cannot unmarshal"},
		{`null`, "not a JSON object"},
	}
	for _, c := range cases {
		err := CheckConfig([]byte(c.doc))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.doc, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err = %v, want %q", c.doc, err, c.want)
		}
	}
}
