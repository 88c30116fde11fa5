package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/gomerge/gomerge/tokenizer"
)

func Example() {
	tk, err := tokenizer.Load("../testdata/tokenizers/mistral-7b-v0.1")
	if err != nil {
		log.Fatal(err)
	}
	ids := tk.Encode("Grüße aus München", true)
	fmt.Println(ids)
	fmt.Println(tk.Tokens(ids))
	fmt.Printf("%q\n", tk.Decode(ids, true))
	sp := tk.Special()
	fmt.Println(sp.BOS.Token, sp.BOS.ID, sp.EOS.Token, sp.EOS.ID)
	// Output:
	// [1 1778 28837 9526 3642 24362]
	// [<s> ▁Gr ü ße ▁aus ▁München]
	// "Grüße aus München"
	// <s> 1 </s> 2
}

func ExampleFromJSON() {
	tk, err := tokenizer.FromJSON([]byte(`{
	  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
	  "decoder": {"type": "ByteLevel"},
	  "model": {"type": "BPE", "vocab": {"h": 0, "a": 1, "l": 2, "o": 3, "ha": 4, "ll": 5, "hall": 6, "hallo": 7},
	    "merges": ["h a", "l l", "ha ll", "hall o"]}
	}`))
	if err != nil {
		log.Fatal(err)
	}
	ids := tk.Encode("hallo", false)
	fmt.Println(ids, tk.Decode(ids, false), tk.ModelType(), len(tk.Merges()))
	// Output: [7] hallo BPE 4
}
