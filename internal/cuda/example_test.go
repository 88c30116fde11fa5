//go:build cuda && linux && amd64

package cuda_test

import (
	"fmt"
	"log"

	"github.com/gomerge/gomerge/internal/cuda"
	"github.com/gomerge/gomerge/tensor"
)

// Open the first GPU and use it as the backend of a merge
// (merge.Options.Backend); without a driver, fall back to the CPU as
// gomerge --device auto does.
func ExampleOpen() {
	var be tensor.Backend = tensor.CPU
	d, err := cuda.Open(cuda.Config{})
	if err != nil {
		log.Printf("no GPU, merging on the CPU: %v", err)
	} else {
		defer d.Close()
		be = d
		fmt.Println("merging on", d)
	}
	out := make([]float32, 3)
	xs := [][]float32{{1, 2, 3}, {3, 2, 1}}
	if err := be.WeightedSum(tensor.BF16, out, xs, []float32{0.5, 0.5}, false, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out)
}
