package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestSentencePieceSpecialInText checks a tokenizer.model directory as
// transformers loads it: <s> and </s> written in text (a Llama-2 or
// Mistral chat template prints bos_token) are the BOS and EOS ids, and
// the chat tokens of tokenizer_config.json's added_tokens_decoder (a
// ChatML fine-tune of a SentencePiece model) get their ids and are found
// in text.
func TestSentencePieceSpecialInText(t *testing.T) {
	pieces := []Piece{
		{"<unk>", 0, PieceUnknown}, {"<s>", 0, PieceControl}, {"</s>", 0, PieceControl},
		{"▁", -1, PieceNormal}, {"a", -2, PieceNormal}, {"b", -2, PieceNormal}, {"▁a", -3, PieceNormal},
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), spmProto(pieces, true), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `{"bos_token": "<s>", "eos_token": "<|im_end|>", "added_tokens_decoder": {
		"1": {"content": "<s>", "special": true, "normalized": false},
		"7": {"content": "<|im_start|>", "special": true, "normalized": true},
		"8": {"content": "<|im_end|>", "special": true, "normalized": false, "rstrip": true}}}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"<s>a</s>", []int{1, 6, 2}},
		{"<|im_start|>a<|im_end|>\nb", []int{7, 6, 8, 3, 5}}, // rstrip swallows the newline
		{"a<|im_start|>", []int{6, 7}},
	} {
		if got := tk.Encode(tc.in, false); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	// The dummy prefix of "a" stays, as in transformers' legacy Llama
	// decoder, which strips one leading space of the whole text only.
	if got := tk.Decode([]int{7, 6, 8}, false); got != "<|im_start|> a<|im_end|>" {
		t.Errorf("Decode = %q", got)
	}
	if got := tk.Decode([]int{7, 6, 8}, true); got != "a" {
		t.Errorf("Decode skipping special = %q", got)
	}
	if sp := tk.Special(); sp.EOS.ID != 8 || !sp.EOS.Found {
		t.Errorf("eos %+v, want <|im_end|> 8", sp.EOS)
	}
	if tk.VocabSize() != 9 {
		t.Errorf("VocabSize %d, want 9", tk.VocabSize())
	}
}
