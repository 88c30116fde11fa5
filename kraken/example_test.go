package kraken_test

import (
	"fmt"
	"log"

	"github.com/gomerge/gomerge/kraken"
)

// Parse and validate a Kraken config: the router's labels map to experts
// through class_indices.
func ExampleParse() {
	c, err := kraken.Parse([]byte(`{
  "models": {"expert1": "org/story-model", "expert2": "org/sql-model"},
  "tokenizers": {"expert1": "org/story-model", "expert2": "org/sql-model"},
  "quantization": {"expert1": null, "expert2": "4bit"},
  "class_indices": {"LABEL_0": 0, "LABEL_1": 1},
  "router": "./router",
  "model_type": "kraken"
}`))
	if err != nil {
		log.Fatal(err)
	}
	warnings, err := c.Validate()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Experts(), c.ExpertKey(c.ClassIndices["LABEL_1"]), c.IsLoRA())
	fmt.Println(warnings)
	// Output:
	// [expert1 expert2] expert2 false
	// [quantization.expert2 is "4bit": kept in config_dict for the Python loader; gomerge runs the model at its stored precision]
}

// More than five experts cannot work in the original, which picks from a
// hard-coded list of five keys.
func ExampleConfig_Validate() {
	c, _ := kraken.Parse([]byte(`{"models": {"expert1": "a", "expert2": "a", "expert3": "a", "expert4": "a", "expert5": "a", "expert6": "a"},
  "tokenizers": {"expert1": "a"}, "class_indices": {"LABEL_0": 0}, "router": "r", "model_type": "kraken"}`))
	_, err := c.Validate()
	fmt.Println(err)
	// Output:
	// kraken config: models has 6 experts; the original picks from the hard-coded list expert1..expert5, so at most 5 can ever answer
}

// Recover the messages of a conversation rendered with a template, as the
// original does before it re-renders them for the chosen expert.
func ExampleRecoverMessages() {
	tmpl := `{% for message in messages %}{{ '### ' + message['content'] + eos_token }}{% endfor %}`
	for _, m := range kraken.RecoverMessages("### You are terse.</eot>### Name a colour.</eot>", tmpl, "</eot>") {
		fmt.Printf("%s: %s\n", m.Role, m.Content)
	}
	// Output:
	// system: You are terse.
	// user: Name a colour.
}
