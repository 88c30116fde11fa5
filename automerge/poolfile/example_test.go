package poolfile_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomerge/gomerge/automerge/poolfile"
)

func ExampleParsePool() {
	p, err := poolfile.ParsePool([]byte(`base: mistralai/Mistral-7B-v0.1
models: [mlabonne/Meliodas-7B, automerger/Percival_01-7B]
tasks:
  - name: arc_de
    metric: acc_norm,none
recipes:
  - {method: slerp, probability: 0.4}
  - {method: dare_ties, probability: 0.6, parameters: {density: 0.53, weight: [0.4, 0.6]}}
`), "pool.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ := p.Recipes[1].Build(rand.New(rand.NewPCG(1, 1)), p.Models[0], p.Models[1], p.Base, "bfloat16")
	fmt.Print(string(c.Config))
	// Output:
	// merge_method: dare_ties
	// base_model: mistralai/Mistral-7B-v0.1
	// models:
	//   - model: mistralai/Mistral-7B-v0.1
	//   - model: mlabonne/Meliodas-7B
	//     parameters:
	//       density: 0.53
	//       weight: 0.58
	//   - model: automerger/Percival_01-7B
	//     parameters:
	//       density: 0.53
	//       weight: 0.56
	// parameters:
	//   int8_mask: true
	// dtype: bfloat16
}

func ExampleParsePool_error() {
	_, err := poolfile.ParsePool([]byte("models: [a, b]\ntasks: [x]\nrecipes:\n  - method: dare_ties\n    parameters: {densty: 0.5}\n"), "pool.yml")
	fmt.Println(err)
	// Output: pool.yml:5: unknown key recipes[0].parameters.densty; did you mean density?
}
