package kraken

import (
	"slices"
	"testing"

	"github.com/gomerge/gomerge/chat"
)

// qwenTemplate is Qwen1.5's chat template, the original router's: its
// Jinja string literals hold backslash-n escapes, which the original's
// separators keep verbatim.
const qwenTemplate = `{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

func TestRecoverMessages(t *testing.T) {
	if got := templateSeparators(qwenTemplate); !slices.Equal(got, []string{`<|im_start|>system\n`, `<|im_start|>user\n`, `<|im_start|>assistant\n`}) {
		t.Errorf("separators %q", got)
	}
	tmpl, err := chat.Parse("qwen", qwenTemplate)
	if err != nil {
		t.Fatal(err)
	}
	render := func(msgs []Message, gen bool) string {
		s, err := tmpl.Render(msgs, chat.Options{AddGenerationPrompt: gen})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name string
		text string
		want []Message
	}{
		// What the original's generate sees: the separators carry a
		// literal backslash-n, so the headers stay in the contents.
		{"system and user", render([]Message{{Role: "system", Content: "Be kind."}, {Role: "user", Content: "Hi"}}, false),
			[]Message{{Role: "system", Content: "<|im_start|>system\nBe kind."}, {Role: "user", Content: "<|im_start|>user\nHi"}}},
		{"trailing assistant dropped", render([]Message{{Role: "system", Content: "S"}, {Role: "user", Content: "U"}, {Role: "assistant", Content: "A"}}, false),
			[]Message{{Role: "system", Content: "<|im_start|>system\nS"}, {Role: "user", Content: "<|im_start|>user\nU"}}},
		{"bogus system dropped", "<|im_start|>system<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n",
			[]Message{{Role: "user", Content: "<|im_start|>user\nQ"}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RecoverMessages(tt.text, qwenTemplate, "<|endoftext|>")
			if !slices.Equal(got, tt.want) {
				t.Errorf("%q:\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
	// A template whose separators are plain strings recovers contents
	// cleanly.
	plain := `{% for message in messages %}{{ '### ' + message['content'] + eos_token }}{% endfor %}`
	if got := templateEOS(plain, "<eot>"); got != "<eot>" {
		t.Errorf("eos %q", got)
	}
	got := RecoverMessages("### sys<eot>### hello<eot>", plain, "<eot>")
	if want := []Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "hello"}}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if templateEOS("{{ x }}", "") != "<|endoftext|>" || templateEOS("</s>", "") != "</s>" {
		t.Error("templateEOS fallbacks")
	}
}
