package evolve_test

import (
	"fmt"
	"log"

	"github.com/gomerge/gomerge/evolve"
)

// A genotype decoded into the merge config it stands for: two models, one
// parameter set per pair of layers.
func ExampleGenome_MergeConfig() {
	cfg, err := evolve.ParseConfig([]byte(`
genome:
  models: [org/model-a, org/model-b]
  merge_method: linear
  layer_granularity: 2
tasks:
  - name: de_ud_gsd_ppl
    metric: word_perplexity,none
    weight: -1
`), "evolve.yml")
	if err != nil {
		log.Fatal(err)
	}
	layout, err := cfg.Genome.Layout(4) // the models have 4 layers
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("genes:", layout.Len(), "population:", evolve.DefaultPopSize(layout.Len()))
	// [group][model][filter set][parameter], flattened.
	yml, err := cfg.Genome.MergeConfig(layout, []float64{0.75, 0.25, -0.5, 0.5})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(yml))
	// Output:
	// genes: 4 population: 8
	// merge_method: linear
	// slices:
	//     - sources:
	//         - model: org/model-a
	//           layer_range: [0, 2]
	//           parameters:
	//             weight: 0.75
	//         - model: org/model-b
	//           layer_range: [0, 2]
	//           parameters:
	//             weight: 0.25
	//     - sources:
	//         - model: org/model-a
	//           layer_range: [2, 4]
	//           parameters:
	//             weight: 0.5
	//         - model: org/model-b
	//           layer_range: [2, 4]
	//           parameters:
	//             weight: 0.5
	// parameters:
	//     normalize: true
	//     int8_mask: true
	// dtype: bfloat16
}
