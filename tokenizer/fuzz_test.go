package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// tinyJSON is a small byte-level BPE tokenizer.json for seeds and examples.
const tinyJSON = `{
  "added_tokens": [{"id": 9, "content": "<eos>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false}],
  "normalizer": {"type": "NFC"},
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<eos>", "type_id": 0}}],
    "special_tokens": {"<eos>": {"id": "<eos>", "ids": [9], "tokens": ["<eos>"]}}},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "vocab": {"h": 0, "a": 1, "l": 2, "o": 3, "Ġ": 4, "ha": 5, "ll": 6, "hall": 7, "hallo": 8},
    "merges": ["h a", "l l", "ha ll", "hall o"]}
}`

func FuzzFromJSON(f *testing.F) {
	f.Add([]byte(tinyJSON))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {}, "merges": []}}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "a"]]}, "decoder": {"type": "Sequence", "decoders": [{"type": "Strip", "content": " ", "start": 5, "stop": 5}]}}`))
	f.Add([]byte(`{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}, "model": {"type": "BPE", "byte_fallback": true, "vocab": {"<0x41>": 0, "▁": 1}}}`))
	f.Add([]byte(`{"model": {"type": "Unigram", "unk_id": 0, "byte_fallback": true, "vocab": [["<unk>", 0], ["a", -1.5], ["ab", -2], ["<0x62>", -3]]}}`))
	f.Add([]byte(`{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+(?!\\S)"}, "behavior": "Isolated"}, "model": {"type": "BPE", "vocab": {}}}`))
	if data, err := readMaybeGzFile("../testdata/tokenizers/mistral-7b-v0.1/tokenizer.json.gz"); err == nil && len(data) > 4000 {
		f.Add(data[:4000]) // a truncated real file
	}
	// Hostile ids (issue 12): FromJSON must refuse them, not size tables
	// by them.
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": -1}}}`))
	f.Add([]byte(`{"added_tokens": [{"id": 2147483653, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}}}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1000000000}}}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 3.5, "c": "7"}}}`))
	f.Add([]byte(`{"added_tokens": [{"id": 4, "content": "d"}], "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 1, "d": 3}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := FromJSON(data)
		if err != nil {
			return
		}
		// The one validation bounds every table indexed by an id.
		if n := tk.VocabSize(); n <= 0 || n > 2*len(tk.Vocab())+2*len(tk.AddedTokens())+1024 {
			t.Fatalf("VocabSize %d for %d tokens", n, len(tk.Vocab()))
		}
		for _, s := range []string{"", "hallo Welt <eos> ß 😀", "\xff\xfe"} {
			ids := tk.Encode(s, true)
			_ = tk.Decode(ids, false)
			_ = tk.Decode(ids, true)
		}
		_ = tk.Decode([]int{-1, 0, 1 << 40}, false)
		_ = tk.VocabSize()
	})
}

func FuzzSentencePiece(f *testing.F) {
	f.Add([]byte{})
	// One piece "a" and a BPE trainer_spec with byte_fallback.
	f.Add([]byte{0x0a, 0x08, 0x0a, 0x01, 'a', 0x15, 0, 0, 0x80, 0xbf, 0x12, 0x04, 0x18, 0x02, 0x98, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := FromSentencePiece(data)
		if err != nil {
			return
		}
		ids := tk.Encode("ab a\n😀", true)
		_ = tk.Decode(ids, false)
	})
}

// FuzzEncode checks that encoding never panics and that decoding gives the
// text back for the lossless vendored tokenizers: Qwen3 (byte-level, up to
// its NFC normalizer) and Mistral (byte fallback, when the text holds no
// added-token text and no ▁).
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", " ", "Grüße aus München!", "  zwei  Leerzeichen\n\n", "<s>x</s>", "<|im_start|>user\nHi<|im_end|>", "a\u0308", "😀🇩🇪", "\x00\r\n\t"} {
		f.Add(s)
	}
	mistral := loadFamily(f, families[0])
	qwen := loadFamily(f, families[1])
	f.Fuzz(func(t *testing.T, s string) {
		m := mistral.Encode(s, true)
		q := qwen.Encode(s, false)
		if !utf8.ValidString(s) {
			return
		}
		if got, want := qwen.Decode(q, false), norm.NFC.String(s); got != want {
			t.Errorf("qwen3 round trip of %q: %q", s, got)
		}
		if strings.ContainsAny(s, "<▁") {
			return
		}
		if got := mistral.Decode(m, true); got != s {
			t.Errorf("mistral round trip of %q: %q", s, got)
		}
	})
}
