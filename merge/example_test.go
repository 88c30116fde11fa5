package merge_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/merge"
)

// Run a TIES merge of two fine-tunes onto their base, as
// `gomerge config.yml OUT` does. The models are the tiny Llamas bundled in
// the repository's testdata; model paths resolve against PlanOptions.Dir
// (the CLI uses the current directory).
func ExampleRun() {
	out, _ := os.MkdirTemp("", "gomerge-example")
	defer os.RemoveAll(out)

	cfg, err := merge.ParseConfig([]byte(`
merge_method: ties
base_model: base_bf16
models:
  - model: ft1_bf16
    parameters: {weight: 0.6, density: 0.5}
  - model: ft2_bf16
    parameters: {weight: 0.4, density: 0.5}
dtype: bfloat16
`), "config.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := merge.Run(context.Background(), cfg, filepath.Join(out, "merged"), merge.Options{
		PlanOptions:    merge.PlanOptions{Dir: "../testdata/golden/models"},
		CopyTokenizer:  true, // as the CLI does
		WriteModelCard: true,
	})
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
	cfg, err := merge.ParseConfig([]byte("merge_method: slerp\nbase_model: ft1_f32\nparameters: {t: 0.5}\nmodels: [{model: ft1_f32}, {model: ft2_f32}]\n"), "slerp.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := merge.NewPlan(cfg, merge.PlanOptions{Dir: "../testdata/golden/models"})
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
