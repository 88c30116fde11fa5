package merge

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
)

// editConfig rewrites a model's config.json with a string replacement.
func editConfig(t *testing.T, dir, old, new string) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), old, new, 1)
	if s == string(b) {
		t.Fatalf("%s: no %q", p, old)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lyingModels adds models whose configs disagree with the others or with
// their own tensors to tinyModels.
func lyingModels(t *testing.T) string {
	dir := tinyModels(t)
	w := func(name string, s testmodel.Spec) string {
		return testmodel.Must(t.Fatal, filepath.Join(dir, name), s)
	}
	w("bert", testmodel.Spec{Seed: 1, Arch: "BertModel", ModelType: "bert", Delta: 0.01, DeltaSeed: 6})
	w("foo1", testmodel.Spec{Seed: 1, Arch: "FooForCausalLM", ModelType: "foo"})
	w("foo2", testmodel.Spec{Seed: 1, Arch: "FooForCausalLM", ModelType: "foo", Delta: 0.01, DeltaSeed: 7,
		Extra: map[string][]int64{"model.extra.weight": {64}}})
	w("bar", testmodel.Spec{Seed: 1, Arch: "BarForCausalLM", ModelType: "foo", Delta: 0.01, DeltaSeed: 8})
	editConfig(t, w("nohead", testmodel.Spec{Seed: 1, Tied: true, Delta: 0.01, DeltaSeed: 9}),
		`"tie_word_embeddings": true`, `"tie_word_embeddings": false`)
	return dir
}

func TestPlanRefusesMixedArchitectures(t *testing.T) {
	dir := lyingModels(t)
	two := func(a, b string) string {
		return "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: " + a + "\n  - model: " + b + "\n"
	}
	tests := []struct {
		name, yml string
		crimes    bool
		want      string // "" = plans
	}{
		{"bert with llama", two("base", "bert"), false, "config.yml:5:12: model bert is BertModel, model_type bert (" + filepath.Join(dir, "bert", "config.json") +
			") but base is LlamaForCausalLM, model_type llama (" + filepath.Join(dir, "base", "config.json") + "): mixing architectures needs --allow-crimes"},
		{"llama with bert", two("bert", "base"), false, "model base is LlamaForCausalLM, model_type llama"},
		{"bert with llama, crimes allowed", two("base", "bert"), true, ""},
		{"two unknown architectures", two("foo1", "bar"), false, "model bar is BarForCausalLM, model_type foo"},
		{"one unknown architecture twice", two("foo1", "foo2"), false, ""},
		{"known tables differ", two("base", "qwen"), false, "model qwen is Qwen2ForCausalLM but base is LlamaForCausalLM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yml), "config.yml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(cfg, PlanOptions{Dir: dir, AllowCrimes: tt.crimes})
			if err == nil {
				p.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPlanMissingWeights(t *testing.T) {
	dir := lyingModels(t)
	tests := []struct{ name, yml, err, warning string }{
		{"untied model without lm_head", "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: nohead\n    parameters: {weight: 1}\n",
			"config.yml:5:5: model nohead stores no lm_head.weight, which other models store, and " + filepath.Join(dir, "nohead", "config.json") + " sets tie_word_embeddings: false", ""},
		{"untied model without lm_head, as base", "merge_method: ties\nbase_model: nohead\nmodels:\n  - model: ft1\n    parameters: {weight: 1}\n",
			"model nohead stores no lm_head.weight", ""},
		{"tied model without lm_head", "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: tied\n    parameters: {weight: 1}\n",
			"", "lm_head.weight: model tied stores none; its tied model.embed_tokens.weight stands in for it"},
		{"tied output", "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: tied\n  - model: nohead\n  - model: base\n",
			"", "left out because the output config sets tie_word_embeddings"},
		{"output vocabulary smaller than the donor's", "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: bigvocab\n  - model: base\n",
			"", "the output embeddings have 256 rows but bigvocab's config.json says vocab_size 260: the output config says 256"},
		{"optional weight in one model", "merge_method: linear\nmodels:\n  - model: foo2\n    parameters: {weight: 1}\n  - model: foo1\n    parameters: {weight: 1}\n",
			"", "model foo1 lacks model.extra.weight that other models have; they are merged from those models only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planYAML(t, dir, tt.yml)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !containsWarning(p.Warnings, tt.warning) {
				t.Errorf("warnings %q lack %q", p.Warnings, tt.warning)
			}
			for _, task := range p.Tasks {
				if v, _ := configInt(p.OutConfig, "vocab_size"); task.IsEmbed && task.Shape[0] != int64(v) {
					t.Errorf("output config vocab_size %d, %s %v", v, task.Name, task.Shape)
				}
			}
		})
	}
}

// TestPlanRefusesLyingConfigs: a config.json that disagrees with its
// model's tensors is refused at plan time, naming the file; with
// --allow-crimes it is a warning.
func TestPlanRefusesLyingConfigs(t *testing.T) {
	dir := tinyModels(t)
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"hidden size", `"hidden_size": 64`, `"hidden_size": 4096`, "config.json says hidden_size 4096, but model.embed_tokens.weight is [256 64]"},
		{"vocabulary", `"vocab_size": 256`, `"vocab_size": 10`, "config.json says vocab_size 10, but model.embed_tokens.weight has 256 rows"},
		{"fewer layers", `"num_hidden_layers": 4`, `"num_hidden_layers": 2`, "config.json says num_hidden_layers 2, but model.layers.2.input_layernorm.weight is stored too"},
		{"more layers", `"num_hidden_layers": 4`, `"num_hidden_layers": 6`, "config.json says num_hidden_layers 6, but the tensors hold 4 layers (no model.layers.4.input_layernorm.weight)"},
		{"intermediate size", `"intermediate_size": 128`, `"intermediate_size": 100`, "config.json gives intermediate_size = 100, but model.layers.0.mlp.up_proj.weight is [128 64]"},
		{"head dim", `"num_attention_heads": 4`, `"num_attention_heads": 4, "head_dim": 32`, "config.json gives num_attention_heads × head_dim = 128, but model.layers.0.self_attn.q_proj.weight is [64 64]"},
		{"kv heads", `"num_key_value_heads": 2`, `"num_key_value_heads": 4`, "config.json gives num_key_value_heads × head_dim = 64, but model.layers.0.self_attn.k_proj.weight is [32 64]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			liar := filepath.Join(t.TempDir(), "liar")
			testmodel.Must(t.Fatal, liar, testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: 11})
			editConfig(t, liar, tt.old, tt.new)
			yml := "merge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: base\n  - model: " + liar + "\n"
			_, err := planYAML(t, dir, yml)
			want := "config.yml:5:12: model " + liar + ": " + filepath.Join(liar, "config.json") + " " + tt.want[len("config.json "):]
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			// As the base (the config.json the output takes) too.
			if _, err := planYAML(t, dir, "merge_method: ties\nbase_model: "+liar+"\nmodels:\n  - model: ft1\n    parameters: {weight: 1}\n"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("as base: error %v, want %q", err, tt.want)
			}
			cfg, err := ParseConfig([]byte(yml), "config.yml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(cfg, PlanOptions{Dir: dir, AllowCrimes: true})
			if err != nil {
				if tt.name == "more layers" || tt.name == "fewer layers" {
					return // the layer counts then differ between the models
				}
				t.Fatalf("with AllowCrimes: %v", err)
			}
			defer p.Close()
			if !containsWarning(p.Warnings, tt.want[len("config.json "):]) {
				t.Errorf("with AllowCrimes, warnings %q lack %q", p.Warnings, tt.want)
			}
		})
	}
}

// TestMultiStageShrunkVocabulary: a stage whose donor has the larger
// vocabulary writes the common rows and a config that says so, which the
// next stage's config check accepts, written or streamed.
func TestMultiStageShrunkVocabulary(t *testing.T) {
	dir := tinyModels(t)
	yml := "name: blend\nmerge_method: linear\nparameters: {weight: 1}\nmodels:\n  - model: " + filepath.Join(dir, "bigvocab") +
		"\n  - model: " + filepath.Join(dir, "base") + "\n---\nmerge_method: ties\nbase_model: " + filepath.Join(dir, "base") +
		"\nmodels:\n  - model: blend\n    parameters: {weight: 1}\n"
	for _, stream := range []bool{false, true} {
		stages, err := ParseMultiConfig([]byte(yml), "multi.yml")
		if err != nil {
			t.Fatal(err)
		}
		mo := MultiOptions{IntermediateDir: t.TempDir(), OutPath: filepath.Join(t.TempDir(), "out"), Stream: stream}
		if _, err := RunMulti(context.Background(), stages, mo, Options{}); err != nil {
			t.Fatalf("stream %v: %v", stream, err)
		}
	}
}
