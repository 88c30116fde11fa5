package tokfile_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

// Add a token to a tokenizer.json and write it back; every other part of
// the file stays as it was.
func ExampleFile_AddToken() {
	dir, _ := os.MkdirTemp("", "tokfile")
	defer os.RemoveAll(dir)
	doc := `{"added_tokens": [], "model": {"type": "BPE", "vocab": {"<unk>": 0, "a": 1, "b": 2}, "merges": ["a b"]}}`
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(doc), 0o644)
	f, err := tokfile.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	f.AddToken(tokfile.AddedToken{Content: "<|im_end|>", Special: true})
	fmt.Println(f.Vocab()["<|im_end|>"], len(f.Vocab()))
	if _, err := f.Encode(); err != nil {
		log.Fatal(err)
	}
	// Output: 3 4
}
