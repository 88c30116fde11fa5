package merge_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomerge/gomerge/eval/model"
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
		PlanOptions: merge.PlanOptions{Dir: "../testdata/golden/models"},
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

// Check a config before merging: every mistake comes back at once, each
// on its YAML line, with a suggestion for misspelt parameters (mergekit
// would merge with the default instead).
func ExampleNewPlan() {
	cfg, err := merge.ParseConfig([]byte(`merge_method: ties
base_model: base_f32
models:
  - model: ft1_f32
    parameters: {weight: 0.5, densty: 0.5}
  - model: ft2_f32
    parameters: {wieght: 0.5, density: 0.5}
  - model: ft9_f32
`), "config.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = merge.NewPlan(cfg, merge.PlanOptions{Dir: "../testdata/golden/models"})
	fmt.Println(strings.ReplaceAll(err.Error(), "../testdata/golden/models/", ""))
	var me *merge.ModelError
	if errors.As(err, &me) {
		fmt.Println("not found:", me.Ref.Path, me.NotFound)
	}
	// Output:
	// config.yml:5:39: parameter "densty" is not a parameter of ties; did you mean "density"?
	// config.yml:7:26: parameter "wieght" is not a parameter of ties; did you mean "weight"?
	// config.yml:8:12: model ft9_f32: no such directory ft9_f32; did you mean ft1_f32?
	// not found: ft9_f32 true
}

// Inspect a plan before any weight is read: the output tensors, their
// bytes and shards, and the tokenizer the merge will write with its
// special-token ids. The model is Karpathy's stories260K, bundled in the
// repository's testdata, converted to a Hugging Face directory; the merge
// stacks its layers into six.
func ExamplePlan_Tokenizer() {
	dir, err := os.MkdirTemp("", "gomerge-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	stories := filepath.Join(dir, "stories")
	if err := model.ConvertLlama2C("../testdata/stories260K/stories260K.bin", stories); err != nil {
		fmt.Println(err)
		return
	}
	if err := model.ConvertLlama2CTokenizer("../testdata/stories260K/tok512.bin", stories, 512); err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := merge.ParseConfig([]byte(`merge_method: passthrough
slices:
  - sources: [{model: stories, layer_range: [0, 4]}]
  - sources: [{model: stories, layer_range: [3, 5]}]
dtype: bfloat16
`), "franken.yml")
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
	var opt merge.Options // the CLI's defaults: tokenizer copied, special tokens aligned
	fmt.Println(plan.Method.Name, len(plan.Tasks), "tensors,", plan.OutputBytes(), "bytes,", plan.Shards(opt.ShardSize), "shard")
	tok, err := plan.Tokenizer(opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("tokenizer: %s, %d tokens, %d embedding rows, bos %d, eos %v\n", tok.Source, tok.Tokens, tok.EmbeddingRows, *tok.BOS, tok.EOS)
	// Output:
	// passthrough 56 tensors, 610944 bytes, 1 shard
	// tokenizer: model stories, 512 tokens, 512 embedding rows, bos 1, eos [2]
}

// A gradient interpolates over the layers of a slice; filters pick
// tensors by substring.
func ExampleParseConfig_gradient() {
	cfg, err := merge.ParseConfig([]byte(`
merge_method: slerp
base_model: a
slices:
  - sources:
      - {model: a, layer_range: [0, 40]}
      - {model: b, layer_range: [0, 40]}
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - value: 0.5
legacy_key: 1
`), "config.yml")
	if err != nil {
		fmt.Println(err)
		return
	}
	t, _ := cfg.Parameters.Get("t")
	attn, _ := t.Eval("model.layers.13.self_attn.q_proj.weight", 13.0/39)
	mlp, _ := t.Eval("model.layers.13.mlp.up_proj.weight", 13.0/39)
	fmt.Printf("%s: t = %.4f (attention), %.4f (mlp)\n", cfg.MergeMethod, attn, mlp)
	fmt.Println(cfg.Warnings)
	// Output:
	// slerp: t = 0.4333 (attention), 0.5000 (mlp)
	// [config.yml:13:1: unknown key "legacy_key" ignored]
}

func ExampleParseModelRef() {
	r, err := merge.ParseModelRef("mistralai/Mistral-7B-v0.1@main+org/adapter")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Path, r.Revision, r.LoRA.Path, r.String())
	_, err = merge.ParseModelRef("a+b+c")
	fmt.Println(err)
	// Output:
	// mistralai/Mistral-7B-v0.1 main org/adapter mistralai/Mistral-7B-v0.1@main+org/adapter
	// model reference "a+b+c" has more than one '+'
}

func ExampleSetting_Eval() {
	t := merge.Setting{Kind: merge.Conditional, Conds: []merge.Cond{
		{Filter: "self_attn", HasFilter: true, Value: merge.Setting{Kind: merge.Gradient, Gradient: []float64{0, 1}}},
		{Value: merge.Setting{Kind: merge.Scalar, Scalar: 0.5}},
	}}
	for _, name := range []string{"model.layers.3.self_attn.q_proj.weight", "model.layers.3.mlp.up_proj.weight"} {
		v, ok := t.Eval(name, 0.25)
		fmt.Println(name, v, ok)
	}
	// Output:
	// model.layers.3.self_attn.q_proj.weight 0.25 true
	// model.layers.3.mlp.up_proj.weight 0.5 true
}
