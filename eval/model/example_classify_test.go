package model_test

import (
	"fmt"

	"github.com/gomerge/gomerge/eval/model"
)

// A sequence classifier's head is score.weight [labels, hidden] applied to
// the last token's final hidden state; its class is named after the causal
// model's.
func ExampleHeadLogits() {
	score := []float32{
		1, 0, 0, // label 0 reads the first dimension
		0, 0, 1, // label 1 the third
	}
	h := []float32{0.5, 9, 2}
	fmt.Println(model.HeadLogits(score, h), model.ClassifierArchitecture("LlamaForCausalLM"))
	// Output:
	// [0.5 2] LlamaForSequenceClassification
}
