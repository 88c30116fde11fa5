package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestTokenize runs gomerge tokenize on the vendored Mistral tokenizer;
// the ids are the Rust tokenizers crate's.
func TestTokenize(t *testing.T) {
	const mistral = "../../testdata/tokenizers/mistral-7b-v0.1"
	tests := []struct {
		args []string
		in   string
		want string
		code int
	}{
		{[]string{"--tokenizer", mistral}, "Hallo Welt\n\n", "[1,6756,28709,13543]\n[1]\n", exitOK},
		{[]string{"--tokenizer", mistral, "--no-special"}, "Hallo Welt\r\n<s>", "[6756,28709,13543]\n[1]\n", exitOK},
		{[]string{"--tokenizer", mistral, "--no-special", "--json-strings"}, `"a\nb"` + "\n", "[264,13,28726]\n", exitOK},
		{[]string{"--tokenizer", mistral, "--json-strings"}, "not json\n", "", exitFailed},
		{[]string{"--tokenizer", "testdata/absent"}, "", "", exitFailed},
		{[]string{}, "", "", exitUsage},
		{[]string{"--tokenizer", mistral, "extra"}, "", "", exitUsage},
	}
	for _, tc := range tests {
		stdin = strings.NewReader(tc.in)
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"tokenize"}, tc.args...), &out, &errb)
		if code != tc.code || out.String() != tc.want {
			t.Errorf("tokenize %v < %q: code %d out %q (stderr %q); want %d %q", tc.args, tc.in, code, out.String(), errb.String(), tc.code, tc.want)
		}
	}
}
