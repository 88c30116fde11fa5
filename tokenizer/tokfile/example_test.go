package tokfile_test

import (
	"errors"
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

// Check the ids of a vocabulary before sizing anything by them: an added
// token that lists a model token under another id is refused.
func ExampleCheckIDs() {
	model := map[string]int{"<s>": 0, "a": 1, "b": 2}
	added := []tokfile.AddedToken{{ID: 0, Content: "<s>", Special: true}, {ID: 3, Content: "b"}}
	err := tokfile.CheckIDs(model, added)
	var ie *tokfile.IDError
	if errors.As(err, &ie) {
		fmt.Println(ie.Problem == tokfile.IDTwice, err)
	}
	// Output: true added_tokens[1]: token "b": id 3, but model.vocab gives it id 2
}
