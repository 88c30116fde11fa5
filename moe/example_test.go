package moe_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/moe"
)

// Build a four-expert Mixtral from a base and three fine-tunes, with
// random routers, as `gomerge moe config.yml OUT --random-seed 1` does.
func ExampleBuild() {
	dir, _ := os.MkdirTemp("", "gomerge-moe-example")
	defer os.RemoveAll(dir)
	testmodel.Write(filepath.Join(dir, "base"), testmodel.Spec{Seed: 1})
	for i := 1; i <= 3; i++ {
		testmodel.Write(filepath.Join(dir, fmt.Sprint("ft", i)), testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: uint64(i + 1)})
	}
	cfg, err := moe.ParseConfig([]byte(`
base_model: base
gate_mode: random
dtype: bfloat16
experts:
  - source_model: ft1
  - source_model: ft2
  - source_model: ft3
  - source_model: base
`), "moe.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	opt := moe.PlanOptions{}
	opt.Dir = dir
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
