package chat

import (
	"os"
	"testing"
)

// BenchmarkRenderQwen3 renders the bundled Qwen3 template (4 kB, the
// longest here) on a four-turn German conversation.
func BenchmarkRenderQwen3(b *testing.B) {
	data, err := os.ReadFile("../testdata/tokenizers/qwen3/tokenizer_config.json")
	if err != nil {
		b.Skip(err)
	}
	tmpl, err := ParseConfig(data, "")
	if err != nil {
		b.Fatal(err)
	}
	msgs := conversations["german"]
	b.ReportAllocs()
	for b.Loop() {
		out, err := tmpl.Render(msgs, Options{AddGenerationPrompt: true})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}
