package chat_test

import (
	"fmt"

	"github.com/gomerge/gomerge/chat"
)

func ExampleTemplate_Render() {
	tmpl, err := chat.Parse("chatml", `{% for m in messages %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := tmpl.Render([]chat.Message{{Role: "user", Content: "Grüß Gott!"}}, chat.Options{AddGenerationPrompt: true})
	fmt.Printf("%q %v\n", out, err)
	// Output: "<|im_start|>user\nGrüß Gott!<|im_end|>\n<|im_start|>assistant\n" <nil>
}
