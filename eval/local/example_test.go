package local_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/eval/local"
	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/merge"
)

// Score two candidates of a search that differ only in the MLP weight:
// with a Reuse, the second merges only the MLP tensors again.
func ExampleReuse() {
	dir, err := os.MkdirTemp("", "stories")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "stories260K")
	if err := model.ConvertLlama2C("../../testdata/stories260K/stories260K.bin", in); err != nil {
		log.Fatal(err)
	}
	reuse := local.NewReuse(1 << 30)
	for _, mlp := range []float64{0.3, 0.7} {
		cfg, err := merge.ParseConfig(fmt.Appendf(nil, `merge_method: linear
dtype: float32
models:
  - model: %[1]s
    parameters: {weight: [{filter: mlp, value: %[2]v}, {value: 0.5}]}
  - model: %[1]s
    parameters: {weight: 0.5}
`, in, mlp), "candidate.yml")
		if err != nil {
			log.Fatal(err)
		}
		if _, err := local.Merge(context.Background(), cfg, local.Options{Reuse: reuse}); err != nil {
			log.Fatal(err)
		}
		kept, merged := reuse.Stats()
		fmt.Printf("mlp weight %v: %d tensors kept, %d merged so far\n", mlp, kept, merged)
	}
	// Output:
	// mlp weight 0.3: 0 tensors kept, 47 merged so far
	// mlp weight 0.7: 32 tensors kept, 62 merged so far
}
