package merge_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/merge"
)

// Run a TIES merge of two fine-tunes onto their base, as
// `gomerge config.yml OUT` does.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "gomerge-example")
	defer os.RemoveAll(dir)
	testmodel.Write(filepath.Join(dir, "base"), testmodel.Spec{Seed: 1})
	testmodel.Write(filepath.Join(dir, "ft1"), testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: 2})
	testmodel.Write(filepath.Join(dir, "ft2"), testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: 3})

	cfg, err := merge.ParseConfig([]byte(`
merge_method: ties
base_model: base
models:
  - model: ft1
    parameters: {weight: 0.6, density: 0.5}
  - model: ft2
    parameters: {weight: 0.4, density: 0.5}
dtype: bfloat16
`), "config.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := merge.Run(context.Background(), cfg, filepath.Join(dir, "out"),
		merge.Options{PlanOptions: merge.PlanOptions{Dir: dir}, WriteModelCard: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Method, res.Tensors, "tensors,", res.Bytes, "bytes")
	// Output: ties 39 tensors, 361600 bytes
}

// Configuration mistakes name the line of the YAML file.
func ExampleParseConfig() {
	_, err := merge.ParseConfig([]byte("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: heavy}\n"), "config.yml")
	fmt.Println(err)
	// Output: config.yml:4:26: parameter "weight": string "heavy" is not a number
}

// Read a merge's output tensors without writing the model: each tensor is
// merged when it is first read (what an evaluator scoring candidates
// wants).
func ExamplePlan_Source() {
	dir, _ := os.MkdirTemp("", "gomerge-example")
	defer os.RemoveAll(dir)
	testmodel.Write(filepath.Join(dir, "a"), testmodel.Spec{Seed: 1})
	testmodel.Write(filepath.Join(dir, "b"), testmodel.Spec{Seed: 2})
	cfg, err := merge.ParseConfig([]byte("merge_method: slerp\nbase_model: a\nparameters: {t: 0.5}\nmodels: [{model: a}, {model: b}]\n"), "slerp.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := merge.NewPlan(cfg, merge.PlanOptions{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer plan.Close()
	src := plan.Source(merge.Options{})
	info, _ := src.Tensor("model.embed_tokens.weight")
	buf := make([]byte, info.Size)
	if err := src.ReadTensorRange(info.Name, 0, buf); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(src.Names()), "tensors;", info.Name, info.DType, info.Shape)
	// Output: 39 tensors; model.embed_tokens.weight F32 [256 64]
}
