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
