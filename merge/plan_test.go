package merge

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/tensor"
)

// tinyModels writes base, ft1, ft2 (Llama, 4 layers, f32) and a few odd
// models into a temporary directory and returns it.
func tinyModels(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	w := func(name string, s testmodel.Spec) {
		if err := testmodel.Write(filepath.Join(dir, name), s); err != nil {
			t.Fatal(err)
		}
	}
	w("base", testmodel.Spec{Seed: 1})
	w("ft1", testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: 2})
	w("ft2", testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: 3, ShardSize: 100_000})
	w("ft1_bf16", testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: 2, DType: tensor.BF16})
	w("bigvocab", testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: 4, Vocab: 260})
	w("deep", testmodel.Spec{Seed: 1, Layers: 6})
	w("tied", testmodel.Spec{Seed: 1, Tied: true})
	w("tied2", testmodel.Spec{Seed: 1, Tied: true, Delta: 0.01, DeltaSeed: 5})
	w("qwen", testmodel.Spec{Seed: 1, Arch: "Qwen2ForCausalLM", ModelType: "qwen2"})
	return dir
}

func planYAML(t *testing.T, dir, yml string) (*Plan, error) {
	t.Helper()
	cfg, err := ParseConfig([]byte(yml), "config.yml")
	if err != nil {
		return nil, err
	}
	p, err := NewPlan(cfg, PlanOptions{Dir: dir})
	if err == nil {
		t.Cleanup(func() { p.Close() })
	}
	return p, err
}

func TestPlanErrors(t *testing.T) {
	dir := tinyModels(t)
	tests := []struct{ name, yml, want string }{
		{"unknown method", "merge_method: linaer\nmodels:\n  - model: base\n", `config.yml:1:15: unknown merge_method "linaer"; did you mean "linear"?`},
		{"unknown method, upper case", "merge_method: DARE-TIES\nmodels:\n  - model: base\n", `unknown merge_method "DARE-TIES"; did you mean "dare_ties"?`},
		{"unknown method, nothing near", "merge_method: frankenmerge\nmodels:\n  - model: base\n", `config.yml:1:15: unknown merge_method "frankenmerge" (known: arcee_fusion,`},
		{"missing weight", "merge_method: linear\nmodels:\n  - model: base\n  - model: ft1\n    parameters: {weight: 1}\n",
			`config.yml:3:5: missing required parameter "weight" for base`},
		{"layer range too deep", "merge_method: passthrough\nslices:\n  - sources:\n      - model: base\n        layer_range: [0, 5]\n",
			"layer_range [0, 5] of base goes beyond its 4 layers"},
		{"slice lengths differ", "merge_method: linear\nslices:\n  - sources:\n      - model: base\n        layer_range: [0, 2]\n      - model: ft1\n        layer_range: [0, 3]\n",
			"config.yml:6:9: all inputs to a slice must contain the same number of layers"},
		{"model layers differ", "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: base\n  - model: deep\n",
			"all inputs to a slice must contain the same number of layers"},
		{"missing model", "merge_method: linear\nmodels:\n  - model: nowhere\n    parameters: {weight: 1}\n",
			"config.yml:3:12: model nowhere: no such directory"},
		{"slerp without base", "merge_method: slerp\nparameters: {t: 0.5}\nmodels:\n  - model: base\n  - model: ft1\n",
			"slerp needs base_model"},
		{"slerp missing t", "merge_method: slerp\nbase_model: base\nmodels:\n  - model: base\n  - model: ft1\n",
			`missing required parameter "t"`},
		{"ties missing base", "merge_method: ties\nmodels:\n  - model: ft1\n    parameters: {weight: 1}\n",
			"ties needs base_model"},
		{"passthrough two inputs", "merge_method: passthrough\nbase_model: base\nmodels:\n  - model: ft1\n",
			"passthrough takes at most 1 inputs, got 2 for model.embed_tokens.weight (models ft1, base) (with models: syntax base_model is added as an input)"},
		{"mixed architectures", "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: base\n  - model: qwen\n",
			"config.yml:5:12: model qwen is Qwen2ForCausalLM but base is LlamaForCausalLM: mixing architectures needs --allow-crimes"},
		{"model_stock needs three", "merge_method: model_stock\nbase_model: base\nmodels: [{model: ft1}]\n",
			"config.yml:1:15: model_stock needs at least 3 models (the base and two others) for model.embed_tokens.weight, found 2"},
		{"della epsilon", "merge_method: della\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 1, density: 0.9, epsilon: 0.2}\n",
			"density 0.9, epsilon 0.2: epsilon must be chosen such that density +/- epsilon is in (0, 1)"},
		{"sources at different depths", "merge_method: linear\nparameters: {weight: 1}\nslices:\n  - sources:\n      - model: base\n        layer_range: [0, 1]\n      - model: deep\n        layer_range: [4, 5]\n",
			""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := planYAML(t, dir, tc.yml)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPlanShapes(t *testing.T) {
	dir := tinyModels(t)
	t.Run("embedding common sub-matrix", func(t *testing.T) {
		p, err := planYAML(t, dir, "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: base\n  - model: bigvocab\n")
		if err != nil {
			t.Fatal(err)
		}
		task := findTask(t, p, "model.embed_tokens.weight")
		if task.Shape[0] != 256 || task.Shape[1] != 64 {
			t.Errorf("shape %v, want [256 64]", task.Shape)
		}
		if !strings.Contains(strings.Join(p.Warnings, "\n"), "common sub-matrix") {
			t.Errorf("no warning about the sub-matrix: %v", p.Warnings)
		}
	})
	t.Run("task arithmetic truncates to base", func(t *testing.T) {
		p, err := planYAML(t, dir, "merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: bigvocab\n    parameters: {weight: 1}\n")
		if err != nil {
			t.Fatal(err)
		}
		if s := findTask(t, p, "lm_head.weight").Shape; s[0] != 256 {
			t.Errorf("shape %v, want the base's [256 64]", s)
		}
	})
	t.Run("task arithmetic base smaller than input fails", func(t *testing.T) {
		_, err := planYAML(t, dir, "merge_method: task_arithmetic\nbase_model: bigvocab\nmodels:\n  - model: base\n    parameters: {weight: 1}\n")
		if err == nil || !strings.Contains(err.Error(), "smaller than the base's") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("tied embeddings stay tied", func(t *testing.T) {
		p, err := planYAML(t, dir, "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: tied\n  - model: tied2\n")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range p.Tasks {
			if task.Name == "lm_head.weight" {
				t.Fatal("planned an lm_head that no input stores")
			}
		}
	})
	t.Run("untied output takes a tied input's embeddings as lm_head", func(t *testing.T) {
		p, err := planYAML(t, dir, "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: base\n  - model: tied\n")
		if err != nil {
			t.Fatal(err)
		}
		task := findTask(t, p, "lm_head.weight")
		if len(task.Inputs) != 2 || task.Inputs[1].Tensor.Name != "model.embed_tokens.weight" {
			t.Errorf("lm_head inputs %+v", task.Inputs)
		}
	})
	t.Run("tied output gets no lm_head", func(t *testing.T) {
		p, err := planYAML(t, dir, "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: tied\n  - model: base\n")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range p.Tasks {
			if task.Name == "lm_head.weight" {
				t.Fatal("planned an lm_head although the output config ties it")
			}
		}
		if !strings.Contains(strings.Join(p.Warnings, "\n"), "tie_word_embeddings") {
			t.Errorf("no warning: %v", p.Warnings)
		}
	})
	t.Run("frankenmerge layer count and names", func(t *testing.T) {
		p, err := planYAML(t, dir, "merge_method: passthrough\nslices:\n  - sources:\n      - model: base\n        layer_range: [0, 2]\n  - sources:\n      - model: deep\n        layer_range: [2, 6]\n")
		if err != nil {
			t.Fatal(err)
		}
		if n := p.OutConfig["num_hidden_layers"]; n != 6 {
			t.Errorf("num_hidden_layers = %v, want 6", n)
		}
		task := findTask(t, p, "model.layers.5.mlp.down_proj.weight")
		if got := task.Inputs[0].Tensor.Name; got != "model.layers.5.mlp.down_proj.weight" || task.Inputs[0].Model.Ref.Path != "deep" {
			t.Errorf("layer 5 comes from %s %s", task.Inputs[0].Model.Ref.Path, got)
		}
		task = findTask(t, p, "model.layers.2.mlp.down_proj.weight")
		if got := task.Inputs[0].Tensor.Name; got != "model.layers.2.mlp.down_proj.weight" || task.Inputs[0].Model.Ref.Path != "deep" {
			t.Errorf("layer 2 comes from %s %s", task.Inputs[0].Model.Ref.Path, got)
		}
		if findTask(t, p, "model.embed_tokens.weight").Inputs[0].Model.Ref.Path != "base" {
			t.Error("embed_tokens should come from the first slice")
		}
		if findTask(t, p, "lm_head.weight").Inputs[0].Model.Ref.Path != "deep" {
			t.Error("lm_head should come from the last slice")
		}
	})
	t.Run("gradient over slice and filters", func(t *testing.T) {
		p, err := planYAML(t, dir, `merge_method: slerp
base_model: base
models: [{model: base}, {model: ft1}]
parameters:
  t:
    - filter: self_attn
      value: [0, 1]
    - value: 0.25
`)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]float64{
			"model.layers.0.self_attn.q_proj.weight": 0,
			"model.layers.3.self_attn.q_proj.weight": 1,
			"model.layers.1.self_attn.q_proj.weight": 1.0 / 3,
			"model.layers.1.mlp.up_proj.weight":      0.25,
		} {
			if got := findTask(t, p, name).Global["t"]; got != want {
				t.Errorf("%s: t = %v, want %v", name, got, want)
			}
		}
	})
	t.Run("arcee_fusion stores float32", func(t *testing.T) {
		p, err := planYAML(t, dir, "merge_method: arcee_fusion\nbase_model: ft1_bf16\nmodels: [{model: ft1_bf16}, {model: ft1}]\n")
		if err != nil {
			t.Fatal(err)
		}
		if task := findTask(t, p, "model.norm.weight"); task.Work != tensor.BF16 || task.Out != tensor.F32 {
			t.Errorf("work %v out %v, want BF16 F32 (mergekit's float32 mask promotes)", task.Work, task.Out)
		}
	})
	t.Run("dtypes", func(t *testing.T) {
		p, err := planYAML(t, dir, "merge_method: linear\nparameters: {weight: 1}\nmodels: [{model: ft1_bf16}, {model: ft1}]\nout_dtype: float16\n")
		if err != nil {
			t.Fatal(err)
		}
		task := findTask(t, p, "model.norm.weight")
		if task.Work != tensor.BF16 || task.Out != tensor.F16 {
			t.Errorf("work %v out %v, want BF16 F16", task.Work, task.Out)
		}
		if p.OutConfig["torch_dtype"] != "float16" {
			t.Errorf("config torch_dtype = %v", p.OutConfig["torch_dtype"])
		}
	})
}

func findTask(t *testing.T, p *Plan, name string) *Task {
	t.Helper()
	for _, task := range p.Tasks {
		if task.Name == name {
			return task
		}
	}
	t.Fatalf("no task %s", name)
	return nil
}

func runYAML(t *testing.T, dir, yml, out string, opt Options) (*Result, error) {
	t.Helper()
	cfg, err := ParseConfig([]byte(yml), "config.yml")
	if err != nil {
		t.Fatal(err)
	}
	opt.Dir = dir
	return Run(context.Background(), cfg, out, opt)
}

func TestOutputSafety(t *testing.T) {
	dir := tinyModels(t)
	linear := "merge_method: linear\nparameters: {weight: 1}\nmodels: [{model: base}, {model: ft1}]\n"
	t.Run("refuses an input directory", func(t *testing.T) {
		_, err := runYAML(t, dir, linear, filepath.Join(dir, "ft1"), Options{})
		if err == nil || !strings.Contains(err.Error(), "overlaps input") || !errors.Is(err, ErrOutputRefused) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("refuses an input reached through a symbolic link", func(t *testing.T) {
		link := filepath.Join(dir, "here")
		if err := os.Symlink(".", link); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(link)
		before := treeSums(t, dir)
		for _, out := range []string{filepath.Join(link, "ft1"), filepath.Join(link, "here", "ft1", "sub"), link} {
			_, err := runYAML(t, dir, linear, out, Options{Overwrite: true})
			if !errors.Is(err, ErrOutputRefused) {
				t.Errorf("out %s: err = %v", out, err)
			}
		}
		if after := treeSums(t, dir); !maps.Equal(before, after) {
			t.Error("input files changed")
		}
	})
	t.Run("refuses a model directory gomerge did not write", func(t *testing.T) {
		out := t.TempDir()
		copyTree(t, filepath.Join(dir, "ft2"), out)
		before := treeSums(t, out)
		_, err := runYAML(t, dir, linear, out, Options{})
		if !errors.Is(err, ErrOutputRefused) || !strings.Contains(err.Error(), "--overwrite") {
			t.Fatalf("err = %v", err)
		}
		if after := treeSums(t, out); !maps.Equal(before, after) {
			t.Error("existing directory changed")
		}
		if _, err := runYAML(t, dir, linear, out, Options{Overwrite: true}); err != nil {
			t.Fatalf("with Overwrite: %v", err)
		}
	})
	t.Run("refuses a previous merge holding a file of the user's", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		if _, err := runYAML(t, dir, linear, out, Options{}); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
		_, err := runYAML(t, dir, linear, out, Options{})
		if err == nil || !strings.Contains(err.Error(), "notes.txt") {
			t.Fatalf("err = %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "notes.txt")); string(b) != "mine" {
			t.Error("user file touched")
		}
	})
	t.Run("replaces a previous merge", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		for i := 0; i < 2; i++ {
			if _, err := runYAML(t, dir, linear, out, Options{ShardSize: 100_000}); err != nil {
				t.Fatal(err)
			}
		}
		entries, _ := os.ReadDir(filepath.Dir(out))
		if len(entries) != 1 {
			t.Errorf("leftovers beside the output: %v", entries)
		}
	})
	t.Run("failure leaves nothing", func(t *testing.T) {
		parent := t.TempDir()
		out := filepath.Join(parent, "out")
		// density 0.001 keeps no element of the 64-element norms: the merge fails mid-way.
		_, err := runYAML(t, dir, "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 1, density: 0.001}\n", out, Options{})
		if err == nil {
			t.Fatal("expected an error")
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("left %v behind", entries)
		}
	})
	t.Run("cancelled run leaves nothing", func(t *testing.T) {
		parent := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		cfg, _ := ParseConfig([]byte(linear), "config.yml")
		_, err := Run(ctx, cfg, filepath.Join(parent, "out"), Options{PlanOptions: PlanOptions{Dir: dir}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("left %v behind", entries)
		}
	})
}

// treeSums maps every file under dir (links not followed) to a hash of its
// bytes.
func treeSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			sums[p] = sha256.Sum256(b)
		}
		return nil
	})
	return sums
}

// copyTree copies the regular files of src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
