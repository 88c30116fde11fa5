package moe_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/moe"
)

// Build a four-expert Mixtral from a base and three fine-tunes, with
// random routers, as `gomerge moe config.yml OUT --random-seed 1` does.
// The models are the tiny Llamas bundled in the repository's testdata.
func ExampleBuild() {
	dir, _ := os.MkdirTemp("", "gomerge-moe-example")
	defer os.RemoveAll(dir)
	cfg, err := moe.ParseConfig([]byte(`
base_model: base_f32
gate_mode: random
dtype: bfloat16
experts:
  - source_model: ft1_f32
  - source_model: ft2_f32
  - source_model: ft3_f32
  - source_model: base_f32
`), "moe.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	opt := moe.PlanOptions{}
	opt.Dir = "../testdata/golden/models"
	plan, err := moe.NewPlan(context.Background(), cfg, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer plan.Close()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	res, err := moe.Build(context.Background(), plan, out, moe.Options{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Architecture, res.Experts, "experts,", res.Tensors, "tensors")
	// Output: MixtralForCausalLM 4 experts, 79 tensors
}

// Mistakes name the YAML line of the entry at fault.
func ExampleParseConfig() {
	_, err := moe.ParseConfig([]byte(`base_model: base
gate_mode: cheap_embed
experts:
  - source_model: code
    positive_prompts: ["def main():"]
  - source_model: math
`), "moe.yml")
	fmt.Println(err)
	// Output: moe.yml:6:5: expert 1 (math) has no positive_prompts, which gate_mode cheap_embed needs
}
