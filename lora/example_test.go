package lora_test

import (
	"fmt"
	"log"

	"github.com/gomerge/gomerge/lora"
	"github.com/gomerge/gomerge/safetensors"
)

// Apply a PEFT adapter to a base model and read an adapted weight; nothing
// merged is written to disk.
func ExampleApply() {
	base, err := safetensors.OpenModel("../testdata/ref/eval/models/llama")
	if err != nil {
		log.Fatal(err)
	}
	a, err := lora.Open("../testdata/ref/lora/dora/adapter")
	if err != nil {
		log.Fatal(err)
	}
	m, err := lora.Apply(base, a)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	mod := a.Modules["model.layers.0.self_attn.q_proj.weight"]
	fmt.Printf("rank %d, scale %g, DoRA %v\n", mod.Rank, mod.Scale, mod.Magnitude != "")
	info, _ := m.Tensor("model.layers.0.self_attn.q_proj.weight")
	buf := make([]byte, info.Size)
	if err := m.ReadTensorRange(info.Name, 0, buf); err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.DType, info.Shape)
	// Output:
	// rank 4, scale 2, DoRA true
	// F32 [64 64]
}
