package model_test

import (
	"fmt"
	"log"
	"math"
	"os"

	"github.com/gomerge/gomerge/eval/model"
)

// Convert Karpathy's stories260K from llama2.c's format, then score a
// sequence and continue it greedily.
func Example() {
	dir, err := os.MkdirTemp("", "stories")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := model.ConvertLlama2C("../../testdata/stories260K/stories260K.bin", dir); err != nil {
		log.Fatal(err)
	}
	m, err := model.Open(dir, model.Options{})
	if err != nil {
		log.Fatal(err)
	}
	// "Once upon a time" in tok512.bin's ids, after BOS.
	ids := []int{m.BOS(), 403, 407, 261, 378}
	lp, err := m.LogProbs(ids)
	if err != nil {
		log.Fatal(err)
	}
	var sum float64
	for _, v := range lp {
		sum += v
	}
	fmt.Printf("vocab %d, %d log-probs, perplexity %.2f\n", m.VocabSize(), len(lp), math.Exp(-sum/float64(len(lp))))
	next, err := m.Generate(ids, 8)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(next)
	// Output:
	// vocab 512, 4 log-probs, perplexity 1.07
	// [432 383 286 261 376 298 315 421]
}

// Show how a mixture of experts routes the last token of a sequence in
// each of its sparse layers.
func ExampleModel_Route() {
	m, err := model.Open("../../testdata/ref/moe/mixtral_legacy", model.Options{})
	if err != nil {
		log.Fatal(err)
	}
	experts, perToken := m.NumExperts()
	fmt.Printf("%s: %d experts, %d per token\n", m.Family(), experts, perToken)
	ids := []int{1, 17, 42, 5, 90, 33}
	routes, err := m.Route(ids)
	if err != nil {
		log.Fatal(err)
	}
	last := len(ids) - 1
	for _, r := range routes {
		fmt.Printf("layer %d: experts %v, weights %.2f\n", r.Layer, r.Experts[last], r.Weights[last])
	}
	// Output:
	// mixtral: 4 experts, 2 per token
	// layer 0: experts [1 2], weights [0.58 0.42]
	// layer 1: experts [2 3], weights [0.82 0.18]
}

// Score two answers to one question as a multiple-choice task does: the
// question runs through the model once, and only the answers' tokens
// reach the output layer.
func ExampleModel_TailLogProbs() {
	dir, err := os.MkdirTemp("", "stories")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := model.ConvertLlama2C("../../testdata/stories260K/stories260K.bin", dir); err != nil {
		log.Fatal(err)
	}
	m, err := model.Open(dir, model.Options{})
	if err != nil {
		log.Fatal(err)
	}
	question := []int{m.BOS(), 403, 407, 261} // "Once upon a"
	answers := [][]int{{378}, {432, 383}}     // "time", two other tokens
	var seqs [][]int
	var tails []int
	for _, a := range answers {
		seqs = append(seqs, append(append([]int(nil), question...), a...))
		tails = append(tails, len(a))
	}
	lp, greedy, err := m.TailLogProbs(seqs, tails)
	if err != nil {
		log.Fatal(err)
	}
	for i := range answers {
		var sum float64
		for _, v := range lp[i] {
			sum += v
		}
		fmt.Printf("answer %d: log-likelihood %.1f, greedy %v\n", i, sum, greedy[i])
	}
	// Output:
	// answer 0: log-likelihood -0.0, greedy [true]
	// answer 1: log-likelihood -14.0, greedy [false true]
}
