package tokensurgeon_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/tokensurgeon"
)

// Diagnose finds the classic merged-chat-model bug: the chat template ends
// turns with <|im_end|>, but generation stops only at </s>. AlignSpecial
// writes the fix.
func ExampleDiagnose() {
	dir, _ := os.MkdirTemp("", "doctor")
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "model")
	os.Mkdir(model, 0o755)
	write := func(name, s string) { os.WriteFile(filepath.Join(model, name), []byte(s), 0o644) }
	write("tokenizer.json", `{"added_tokens": [{"id": 0, "content": "</s>", "special": true}, {"id": 3, "content": "<|im_end|>", "special": true}],
		"model": {"type": "BPE", "vocab": {"</s>": 0, "a": 1, "b": 2}, "merges": []}}`)
	write("tokenizer_config.json", `{"eos_token": "</s>", "chat_template": "{% for m in messages %}{{ m['content'] + '<|im_end|>' }}{% endfor %}"}`)
	write("generation_config.json", `{"eos_token_id": 0}`)

	r, err := tokensurgeon.Diagnose(model)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range r.Findings {
		fmt.Println(f.Check, "-", f.Fix)
	}
	if _, err := tokensurgeon.AlignSpecial(model, "", filepath.Join(dir, "fixed"), tokensurgeon.AlignOptions{}); err != nil {
		log.Fatal(err)
	}
	r, _ = tokensurgeon.Diagnose(filepath.Join(dir, "fixed"))
	fmt.Println(len(r.Findings), "findings after AlignSpecial")
	// Output:
	// turn-end - set eos_token_id in generation_config.json to [0, 3]
	// 0 findings after AlignSpecial
}
