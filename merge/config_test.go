package merge

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cfgParam evaluates parameter name of ps for a tensor at layer fraction t.
func cfgParam(t *testing.T, ps Params, name, tensor string, frac float64) float64 {
	t.Helper()
	s, ok := ps.Get(name)
	if !ok {
		t.Fatalf("no parameter %q in %v", name, ps.Names())
	}
	v, ok := s.Eval(tensor, frac)
	if !ok {
		t.Fatalf("parameter %q has no value for %s", name, tensor)
	}
	return v
}

func cfgWantFloat(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestParseConfigFiles reads every config under testdata/configs: the
// golden mergekit runs (copied from shared/golden/*/config.yml) and
// configs written for the features mergekit users rely on.
func TestParseConfigFiles(t *testing.T) {
	checks := map[string]func(*testing.T, *Config){
		"slerp_gradient_filters_bf16.yml": func(t *testing.T, c *Config) {
			if c.MergeMethod != "slerp" || c.DType != "bfloat16" || len(c.Models) != 2 || !c.BaseModel.Equal(c.Models[0].Model) {
				t.Errorf("got %+v", c)
			}
			cfgWantFloat(t, "t(mlp, 0.25)", cfgParam(t, c.Parameters, "t", "model.layers.1.mlp.up_proj.weight", 0.25), 0.5)
		},
		"passthrough_frankenmerge_scale_bf16.yml": func(t *testing.T, c *Config) {
			if len(c.Slices) != 2 || *c.Slices[1].Sources[0].LayerRange != [2]int{0, 4} {
				t.Fatalf("slices %+v", c.Slices)
			}
			ps := c.Slices[1].Sources[0].Parameters
			cfgWantFloat(t, "scale(o_proj)", cfgParam(t, ps, "scale", "model.layers.0.self_attn.o_proj.weight", 0), 0.5)
			cfgWantFloat(t, "scale(q_proj)", cfgParam(t, ps, "scale", "model.layers.0.self_attn.q_proj.weight", 0), 1)
		},
		"ties_int8mask_lambda_f32.yml": func(t *testing.T, c *Config) {
			cfgWantFloat(t, "int8_mask", cfgParam(t, c.Parameters, "int8_mask", "x", 0), 1)
			cfgWantFloat(t, "lambda", cfgParam(t, c.Parameters, "lambda", "x", 0), 0.9)
		},
		"linear_bf16in_f16out_sharded.yml": func(t *testing.T, c *Config) {
			if c.DType != "float32" || c.OutDType != "float16" || c.DTypePos != (Pos{9, 8}) || c.OutDTypePos != (Pos{10, 12}) {
				t.Errorf("dtype %q at %v, out_dtype %q at %v", c.DType, c.DTypePos, c.OutDType, c.OutDTypePos)
			}
		},
		"spec_1_6_gradient_slerp.yml": func(t *testing.T, c *Config) {
			if c.BaseModel.String() != "psmathur/orca_mini_v3_13b" || c.DType != "float16" || len(c.Slices[0].Sources) != 2 {
				t.Errorf("got %+v", c)
			}
			if r := c.Slices[0].Sources[1].LayerRange; r == nil || *r != [2]int{0, 40} {
				t.Errorf("layer_range %v", r)
			}
			cfgWantFloat(t, "t(self_attn, 13/39)", cfgParam(t, c.Parameters, "t", "model.layers.13.self_attn.q_proj.weight", 13.0/39), 0.5*(2.0/3)+0.3/3)
		},
		"anchors_merge_keys.yml": func(t *testing.T, c *Config) {
			if c.BaseModel.String() != "org/base-7b@main" || !c.Models[0].Model.Equal(*c.BaseModel) {
				t.Errorf("aliased base %v, first model %v", c.BaseModel, c.Models[0].Model)
			}
			if c.BaseModel.Pos != (Pos{7, 7}) || c.Models[0].Model.Pos != (Pos{7, 7}) {
				t.Errorf("alias positions %v %v: want the anchored node's (at its anchor)", c.BaseModel.Pos, c.Models[0].Model.Pos)
			}
			if c.Models[0].Parameters.Len() != 0 {
				t.Errorf("base has parameters %v", c.Models[0].Parameters.Names())
			}
			mathModel := c.Models[1].Parameters
			cfgWantFloat(t, "math weight", cfgParam(t, mathModel, "weight", "x", 0), 0.3)
			cfgWantFloat(t, "math density", cfgParam(t, mathModel, "density", "x", 0), 0.5)
			if got := strings.Join(mathModel.Names(), ","); got != "weight,density" {
				t.Errorf("merged key order %s, want weight,density (PyYAML's)", got)
			}
			code := c.Models[2].Parameters
			cfgWantFloat(t, "code density", cfgParam(t, code, "density", "x", 0), 0.9)
			cfgWantFloat(t, "code weight", cfgParam(t, code, "weight", "x", 0), 0.5)
			if got := strings.Join(code.Names(), ","); got != "weight,density" {
				t.Errorf("merged key order %s, want weight,density (PyYAML's)", got)
			}
			cfgWantFloat(t, "int8_mask: yes", cfgParam(t, c.Parameters, "int8_mask", "x", 0), 1)
		},
		"dict_model_refs.yml": func(t *testing.T, c *Config) {
			want := []ModelRef{
				{Path: "org/instruct", Revision: "v2", LoRA: &LoRARef{Path: "org/instruct-lora"}},
				{Path: "org/chat", Revision: "refs/pr/3", OverrideArchitecture: "MistralForCausalLM"},
				{Path: "org/roleplay", LoRA: &LoRARef{Path: "org/roleplay-lora", Revision: "b1"}},
				{Path: "1.5"},
				{Path: "D:/Models/My Model (fp16)"},
			}
			for i, w := range want {
				if !c.Models[i].Model.Equal(w) {
					t.Errorf("model %d = %+v, want %+v", i, c.Models[i].Model, w)
				}
			}
			if b := c.BaseModel; b.Path != "mistralai/Mistral-7B-v0.1" || b.Revision != "26bca36bde8333b5d7f72e9ed20ccda6a618af24" || b.Pos != (Pos{3, 3}) {
				t.Errorf("base %+v", b)
			}
			if c.OutDType != "float16" || c.DType != "" {
				t.Errorf("dtype %q out_dtype %q", c.DType, c.OutDType)
			}
		},
		"tokenizer_block.yml": func(t *testing.T, c *Config) {
			tk := c.Tokenizer
			if tk == nil || tk.Source.Keyword != "union" || tk.PadToMultipleOf != 64 || len(tk.Tokens) != 5 || c.TokenizerSource != nil {
				t.Fatalf("tokenizer %+v", tk)
			}
			want := []struct {
				token, kind, model, tok string
				id                      int
				force                   bool
			}{
				{"<|im_start|>", "model", "org/chat", "", -1, false},
				{"<|im_end|>", "model_token", "org/chat", "</s>", -1, true},
				{"<|pad|>", "zero", "", "", -1, false},
				{"<|reserved_0|>", "model_token", "org/base", "", 2, false},
				{"<|unset|>", "", "", "", -1, false},
			}
			for i, w := range want {
				got := tk.Tokens[i]
				model, id := "", -1
				if got.Source.Model != nil {
					model = got.Source.Model.String()
				}
				if got.Source.TokenID != nil {
					id = *got.Source.TokenID
				}
				if got.Token != w.token || got.Source.Kind != w.kind || model != w.model || got.Source.Token != w.tok || id != w.id || got.Force != w.force {
					t.Errorf("token %d = %+v (model %q, id %d), want %+v", i, got, model, id, w)
				}
			}
			if c.ChatTemplate != "chatml" {
				t.Errorf("chat_template %q", c.ChatTemplate)
			}
		},
		"modules.yml": func(t *testing.T, c *Config) {
			if len(c.Modules) != 2 || c.Modules[0].Name != "text_decoder" || c.Modules[1].Name != "vision_tower" {
				t.Fatalf("modules %+v", c.Modules)
			}
			text, vision := c.Modules[0], c.Modules[1]
			if len(text.Slices) != 1 || len(text.Models) != 0 || len(vision.Models) != 2 || len(vision.Slices) != 0 {
				t.Errorf("module bodies %+v", c.Modules)
			}
			if text.Pos != (Pos{6, 3}) {
				t.Errorf("module position %v", text.Pos)
			}
			cfgWantFloat(t, "text t(0.5)", cfgParam(t, text.Parameters, "t", "x", 0.5), 0.5)
			cfgWantFloat(t, "vision t", cfgParam(t, vision.Parameters, "t", "x", 0), 0.3)
			if !strings.HasPrefix(c.ChatTemplate, "{% for m in messages %}") || c.ChatTemplatePos != (Pos{23, 16}) {
				t.Errorf("chat_template %q at %v", c.ChatTemplate, c.ChatTemplatePos)
			}
		},
	}
	// Configs that may warn: keys only there to be anchored are unknown.
	wantWarnings := map[string]int{"anchors_merge_keys.yml": 3}

	files, err := filepath.Glob("testdata/configs/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			c, err := LoadConfig(f)
			if err != nil {
				t.Fatal(err)
			}
			if c.File != f || c.MergeMethod == "" {
				t.Errorf("File %q, method %q", c.File, c.MergeMethod)
			}
			if raw, _ := os.ReadFile(f); string(raw) != string(c.Raw) {
				t.Error("Raw is not the file's text")
			}
			if len(c.Warnings) != wantWarnings[name] {
				t.Errorf("warnings %q", c.Warnings)
			}
			if check := checks[name]; check != nil {
				check(t, c)
			}
		})
	}
	for name := range checks {
		if !seen[name] {
			t.Errorf("testdata/configs/%s is missing", name)
		}
	}
}

// cfgParse parses yml as c.yml and fails the test on an error.
func cfgParse(t *testing.T, yml string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(yml), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseConfigValid(t *testing.T) {
	tests := []struct {
		name, yml string
		check     func(*testing.T, *Config)
	}{
		{"minimal", "merge_method: linear\nmodels: [{model: a}]\n", func(t *testing.T, c *Config) {
			if c.MergeMethod != "linear" || c.MergeMethodPos != (Pos{1, 15}) || c.Models[0].Pos != (Pos{2, 10}) || c.Models[0].Model.Pos != (Pos{2, 18}) {
				t.Errorf("%+v", c)
			}
			if c.BaseModel != nil || c.Tokenizer != nil || c.TokenizerSource != nil || c.DType != "" || c.ChatTemplate != "" || c.Parameters.Len() != 0 {
				t.Errorf("unset keys are set: %+v", c)
			}
		}},
		{"bare model strings", "merge_method: linear\nmodels: [a, b@v1]\n", func(t *testing.T, c *Config) {
			if c.Models[1].Model.String() != "b@v1" {
				t.Errorf("%+v", c.Models)
			}
		}},
		{"nulls are unset", "merge_method: x\nmodels: [{model: a, parameters: null}]\nslices: null\nmodules: ~\nbase_model: null\n" +
			"dtype: null\nout_dtype:\nparameters:\ntokenizer_source: null\ntokenizer: null\nchat_template: null\nname: null\n",
			func(t *testing.T, c *Config) {
				if c.BaseModel != nil || c.DType != "" || c.TokenizerSource != nil || c.Tokenizer != nil || len(c.Warnings) != 0 {
					t.Errorf("%+v", c)
				}
			}},
		{"torch dtypes", "merge_method: x\nmodels: [{model: a}]\ndtype: torch.float32\nout_dtype: float64\n", func(t *testing.T, c *Config) {
			if c.DType != "float32" || c.OutDType != "float64" {
				t.Errorf("%q %q", c.DType, c.OutDType)
			}
		}},
		{"int64 dtype", "merge_method: x\nmodels: [{model: a}]\ndtype: int64\n", func(t *testing.T, c *Config) {
			if c.DType != "int64" {
				t.Errorf("%q", c.DType)
			}
		}},
		{"number-looking paths", "merge_method: x\nmodels:\n  - model: 7\n  - model: 1e3\n  - model: true\nbase_model: 0x10\n", func(t *testing.T, c *Config) {
			if c.Models[0].Model.Path != "7" || c.Models[1].Model.Path != "1e3" || c.Models[2].Model.Path != "true" || c.BaseModel.Path != "0x10" {
				t.Errorf("%+v %+v", c.Models, c.BaseModel)
			}
		}},
		{"lax numbers", "merge_method: x\nmodels: [{model: a}]\nparameters:\n  a: true\n  b: no\n  c: 5\n  d: [false, 1, 0.5]\n  e: 1e-3\n  f: .inf\n  g: !!float '2.5'\n",
			func(t *testing.T, c *Config) {
				want := map[string]float64{"a": 1, "b": 0, "c": 5, "e": 0.001, "f": math.Inf(1), "g": 2.5}
				for k, w := range want {
					if got := cfgParam(t, c.Parameters, k, "x", 0); got != w {
						t.Errorf("%s = %v, want %v", k, got, w)
					}
				}
				if s, _ := c.Parameters.Get("d"); s.Kind != Gradient || fmt.Sprint(s.Gradient) != "[0 1 0.5]" {
					t.Errorf("d = %+v", s)
				}
			}},
		{"numeric strings, as pydantic's lax mode reads them",
			"merge_method: x\nslices:\n  - sources: [{model: a, layer_range: ['0', ' 4 ']}]\nparameters: {w: '0.5', g: ['1', 2], i: '-inf'}\ntokenizer:\n  pad_to_multiple_of: '64'\n  tokens: {x: {force: 'yes'}, y: {force: 'F'}, z: {force: on}}\n",
			func(t *testing.T, c *Config) {
				if *c.Slices[0].Sources[0].LayerRange != [2]int{0, 4} || c.Tokenizer.PadToMultipleOf != 64 {
					t.Errorf("layer_range %v, pad %d", *c.Slices[0].Sources[0].LayerRange, c.Tokenizer.PadToMultipleOf)
				}
				if tk := c.Tokenizer.Tokens; !tk[0].Force || tk[1].Force || !tk[2].Force {
					t.Errorf("force %+v", tk)
				}
				if cfgParam(t, c.Parameters, "w", "x", 0) != 0.5 || cfgParam(t, c.Parameters, "g", "x", 0) != 1 || !math.IsInf(cfgParam(t, c.Parameters, "i", "x", 0), -1) {
					t.Errorf("parameters %v", c.Parameters)
				}
				if len(c.Warnings) != 6 || c.Warnings[0] != `c.yml:3:40: layer_range: string "0" read as a number` {
					t.Errorf("warnings %q", c.Warnings)
				}
			}},
		{"legacy tokenizer_source", "merge_method: x\nmodels: [{model: a}]\ntokenizer_source: base\n", func(t *testing.T, c *Config) {
			if c.TokenizerSource == nil || c.TokenizerSource.Keyword != "base" || c.TokenizerSource.Pos != (Pos{3, 19}) {
				t.Errorf("%+v", c.TokenizerSource)
			}
		}},
		{"tokenizer_source model", "merge_method: x\nmodels: [{model: a}]\ntokenizer_source: org/tok@r\n", func(t *testing.T, c *Config) {
			if ts := c.TokenizerSource; ts == nil || ts.Keyword != "" || ts.Model.String() != "org/tok@r" {
				t.Errorf("%+v", ts)
			}
		}},
		{"tokenizer_source model: prefix", "merge_method: x\nmodels: [{model: a}]\ntokenizer_source: model:org/tok\n", func(t *testing.T, c *Config) {
			if ts := c.TokenizerSource; ts == nil || ts.Model.Path != "org/tok" || len(c.Warnings) != 1 {
				t.Errorf("%+v %q", ts, c.Warnings)
			}
		}},
		{"empty tokenizer block means union", "merge_method: x\nmodels: [{model: a}]\ntokenizer: {}\n", func(t *testing.T, c *Config) {
			if tk := c.Tokenizer; tk == nil || tk.Source.Keyword != "union" || tk.Pos != (Pos{3, 12}) || len(tk.Tokens) != 0 {
				t.Errorf("%+v", tk)
			}
		}},
		{"tokenizer source dict", "merge_method: x\nmodels: [{model: a}]\ntokenizer:\n  source: {model: {path: org/tok}}\n", func(t *testing.T, c *Config) {
			if tk := c.Tokenizer; tk.Source.Keyword != "" || tk.Source.Model.Path != "org/tok" {
				t.Errorf("%+v", tk.Source)
			}
		}},
		{"chat templates", "merge_method: x\nmodels: [{model: a}]\nchat_template: auto\n", func(t *testing.T, c *Config) {
			if c.ChatTemplate != "auto" || c.ChatTemplatePos != (Pos{3, 16}) {
				t.Errorf("%q at %v", c.ChatTemplate, c.ChatTemplatePos)
			}
		}},
		{"residual_weight accepted", "merge_method: x\nslices:\n  - sources: [{model: a}]\n    residual_weight: 0.5\n    base_model: b\n", func(t *testing.T, c *Config) {
			if s := c.Slices[0]; s.BaseModel.Path != "b" || s.Sources[0].LayerRange != nil || len(c.Warnings) != 0 {
				t.Errorf("%+v %q", s, c.Warnings)
			}
		}},
		{"name", "name: stage1\nmerge_method: x\nmodels: [{model: a}]\n", func(t *testing.T, c *Config) {
			if c.Name != "stage1" || len(c.Warnings) != 0 {
				t.Errorf("%q %q", c.Name, c.Warnings)
			}
		}},
		{"duplicate keys: last wins", "merge_method: linear\nmerge_method: ties\nmodels: [{model: a}]\n", func(t *testing.T, c *Config) {
			if c.MergeMethod != "ties" || c.MergeMethodPos != (Pos{2, 15}) || len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], `c.yml:2:1: duplicate key "merge_method"`) {
				t.Errorf("%q at %v, %q", c.MergeMethod, c.MergeMethodPos, c.Warnings)
			}
		}},
		{"merge key anywhere in the mapping", "x: &x {model: m, parameters: {weight: 2}}\nmerge_method: linear\nmodels:\n  - {parameters: {weight: 1}, <<: *x}\n", func(t *testing.T, c *Config) {
			if c.Models[0].Model.Path != "m" || cfgParam(t, c.Models[0].Parameters, "weight", "x", 0) != 1 {
				t.Errorf("%+v", c.Models[0])
			}
		}},
		{"chained merge keys", "a: &a {weight: 1, density: 1}\nb: &b {<<: *a, density: 2}\nmerge_method: x\nmodels: [{model: m, parameters: {<<: *b, lambda: 3}}]\n", func(t *testing.T, c *Config) {
			ps := c.Models[0].Parameters
			if cfgParam(t, ps, "weight", "x", 0) != 1 || cfgParam(t, ps, "density", "x", 0) != 2 || cfgParam(t, ps, "lambda", "x", 0) != 3 {
				t.Errorf("%v", ps.Names())
			}
		}},
		{"aliased lists", "ms: &ms\n  - model: a\n  - model: b\nmerge_method: x\nmodels: *ms\n", func(t *testing.T, c *Config) {
			if len(c.Models) != 2 {
				t.Errorf("%+v", c.Models)
			}
		}},
		{"empty trailing document", "merge_method: x\nmodels: [{model: a}]\n---\n", func(t *testing.T, c *Config) {
			if len(c.Warnings) != 1 {
				t.Errorf("%q", c.Warnings)
			}
		}},
		{"leading document marker", "---\nmerge_method: x\nmodels: [{model: a}]\n...\n", func(t *testing.T, c *Config) {
			if c.MergeMethodPos != (Pos{2, 15}) {
				t.Errorf("%v", c.MergeMethodPos)
			}
		}},
		{"module with only parameters and slices", "merge_method: x\nmodules:\n  m:\n    slices: [{sources: [{model: a, layer_range: [0, 1]}]}]\n", func(t *testing.T, c *Config) {
			if len(c.Modules) != 1 || c.Modules[0].Slices[0].Sources[0].LayerRange[1] != 1 {
				t.Errorf("%+v", c.Modules)
			}
		}},
		{"layer_range null", "merge_method: x\nslices: [{sources: [{model: a, layer_range: null}]}]\n", func(t *testing.T, c *Config) {
			if c.Slices[0].Sources[0].LayerRange != nil {
				t.Error("layer_range set")
			}
		}},
		{"layer_range floats that are integers", "merge_method: x\nslices: [{sources: [{model: a, layer_range: [0, 8.0]}]}]\n", func(t *testing.T, c *Config) {
			if *c.Slices[0].Sources[0].LayerRange != [2]int{0, 8} {
				t.Error(c.Slices[0].Sources[0].LayerRange)
			}
		}},
		{"filter null and star", "merge_method: x\nmodels: [{model: a}]\nparameters:\n  w:\n    - {filter: null, value: 1}\n", func(t *testing.T, c *Config) {
			s, _ := c.Parameters.Get("w")
			if s.Conds[0].HasFilter || s.Conds[0].Pos != (Pos{5, 7}) {
				t.Errorf("%+v", s.Conds[0])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, cfgParse(t, tc.yml))
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	const m = "merge_method: x\nmodels: [{model: a}]\n"
	tests := []struct{ name, yml, want string }{
		{"yaml syntax", "merge_method: linear\nmodels\n  - model: a\n", "c.yml:2: invalid YAML: could not find expected ':'"},
		{"tab indentation", "merge_method: x\nmodels:\n\t- model: a\n", "c.yml:3: invalid YAML"},
		{"empty", "", "c.yml: empty config"},
		{"comments only", "# nothing\n", "c.yml: empty config"},
		{"null document", "---\n...\n", "c.yml:2:1: config must be a mapping, not empty"},
		{"top-level list", "- merge_method: x\n", "c.yml:1:1: config must be a mapping, not a list"},
		{"no method", "models: [{model: a}]\n", "c.yml:1:1: merge_method is required"},
		{"moe config", "base_model: a\ngate_mode: hidden\nexperts: []\n", "merge_method is required (this looks like a mergekit-moe config)"},
		{"method not string", "merge_method: [a]\nmodels: [{model: a}]\n", "c.yml:1:15: merge_method must be a string, not a list"},
		{"method null", "merge_method:\nmodels: [{model: a}]\n", "c.yml:1:14: merge_method must be a string, not empty"},
		{"method empty", "merge_method: ''\nmodels: [{model: a}]\n", "c.yml:1:15: merge_method must not be empty"},
		{"no inputs", "merge_method: linear\n", "c.yml:1:1: Exactly one of 'models', 'slices', or 'modules' must be present"},
		{"empty inputs", "merge_method: linear\nmodels: []\nslices: []\n", "c.yml:1:1: Exactly one of 'models', 'slices', or 'modules' must be present"},
		{"both inputs", "merge_method: linear\nmodels: [{model: a}]\nslices: [{sources: [{model: a}]}]\n",
			"c.yml:3:1: Exactly one of 'models', 'slices', or 'modules' must be present (found models, slices)"},
		{"models not list", "merge_method: linear\nmodels: foo\n", `c.yml:2:9: models must be a list, not "foo"`},
		{"models entry list", "merge_method: linear\nmodels: [[a]]\n", "c.yml:2:10: a models entry must be a mapping, not a list"},
		{"models entry without model", "merge_method: linear\nmodels:\n  - parameters: {weight: 1}\n", "c.yml:3:5: a models entry needs a model"},
		{"model null", "merge_method: linear\nmodels:\n  - model:\n", "c.yml:3:11: model must be a model reference, not empty"},
		{"model list", "merge_method: linear\nmodels:\n  - model: [a]\n", "c.yml:3:12: model must be a model reference, not a list"},
		{"string parameter", "merge_method: linear\nmodels:\n  - model: a\n    parameters:\n      weight: abc\n", `c.yml:5:15: parameter "weight": string "abc" is not a number`},
		{"parameters list", "merge_method: linear\nparameters: [1, 2]\nmodels: [{model: a}]\n", "c.yml:2:13: parameters must be a mapping, not a list"},
		{"parameters scalar", m + "parameters: 0.5\n", `c.yml:3:13: parameters must be a mapping, not "0.5"`},
		{"bad gradient", "merge_method: linear\nparameters: {weight: [1, x]}\nmodels: [{model: a}]\n", `c.yml:2:26: parameter "weight": string "x" is not a number`},
		{"nested gradient", m + "parameters: {weight: [1, [2]]}\n", `c.yml:3:26: parameter "weight": gradient entries must be numbers, not a list`},
		{"empty gradient", m + "parameters: {weight: []}\n", `c.yml:3:22: parameter "weight": empty list`},
		{"gradient null entry", m + "parameters: {weight: [1, null]}\n", `c.yml:3:26: parameter "weight": empty is not a number`},
		{"condition without value", m + "parameters:\n  weight:\n    - filter: mlp\n", `c.yml:5:7: parameter "weight": an entry needs a value`},
		{"condition value null", m + "parameters:\n  weight:\n    - value:\n", `c.yml:5:13: parameter "weight": empty is not a number`},
		{"nested conditions", m + "parameters:\n  weight:\n    - value: [{value: 1}]\n", `c.yml:5:14: parameter "weight": a condition's value must be a number`},
		{"condition value mapping", m + "parameters:\n  weight:\n    - value: {value: 1}\n", `c.yml:5:14: parameter "weight": a condition's value must be a number`},
		{"condition mixed list", m + "parameters:\n  weight:\n    - {value: 1}\n    - 2\n", `c.yml:6:7: an entry of parameter "weight" must be a mapping, not "2"`},
		{"filter list", m + "parameters:\n  weight:\n    - {filter: [mlp], value: 1}\n", "c.yml:5:16: filter must be a string, not a list"},
		{"layer range short", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0]\n", "c.yml:5:22: layer_range must be [start, end], got 1 values"},
		{"layer range scalar", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: 4\n", `c.yml:5:22: layer_range must be a list, not "4"`},
		{"layer range reversed", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [4, 2]\n", "c.yml:5:22: layer_range [4, 2] is empty or negative (end is exclusive)"},
		{"layer range empty", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [2, 2]\n", "layer_range [2, 2] is empty"},
		{"layer range negative", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [-1, 2]\n", "layer_range [-1, 2] is empty or negative"},
		{"layer range fraction", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 2.5]\n", "c.yml:5:26: layer_range: 2.5 is not an integer"},
		{"layer range string", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, four]\n", `c.yml:5:26: layer_range: string "four" is not a number`},
		{"hexadecimal string", m + "parameters: {weight: '0x10'}\n", `c.yml:3:22: parameter "weight": string "0x10" is not a number`},
		{"empty sources", "merge_method: passthrough\nslices:\n  - sources: []\n", "c.yml:3:5: a slice needs a non-empty sources list"},
		{"no sources", "merge_method: passthrough\nslices:\n  - base_model: a\n", "c.yml:3:5: a slice needs a non-empty sources list"},
		{"sources scalar", "merge_method: passthrough\nslices:\n  - sources: a\n", `c.yml:3:14: sources must be a list, not "a"`},
		{"source without model", "merge_method: passthrough\nslices:\n  - sources: [{layer_range: [0, 1]}]\n", "c.yml:3:15: a sources entry needs a model"},
		{"slices entry scalar", "merge_method: passthrough\nslices: [a]\n", `c.yml:2:10: a slices entry must be a mapping, not "a"`},
		{"residual_weight string", "merge_method: x\nslices: [{sources: [{model: a}], residual_weight: big}]\n", `c.yml:2:51: residual_weight: string "big" is not a number`},
		{"bad dtype", m + "dtype: bf16\n", `c.yml:3:8: dtype "bf16" is not one of bfloat16, float16, float32, int64`},
		{"bad out_dtype", m + "out_dtype: fp16\n", `c.yml:3:12: out_dtype "fp16" is not one of bfloat16, float16, float32, int64`},
		{"dtype list", m + "dtype: [float16]\n", "c.yml:3:8: dtype must be a string, not a list"},
		{"bad ref", "merge_method: linear\nmodels: [{model: a+b+c}]\n", `c.yml:2:18: model reference "a+b+c" has more than one '+'`},
		{"two revisions", "merge_method: linear\nmodels: [{model: a@1@2}]\n", `c.yml:2:18: model reference "a@1@2": more than one '@'`},
		{"empty lora", "merge_method: linear\nmodels: [{model: a+}]\n", `c.yml:2:18: model reference "a+": LoRA: empty path`},
		{"bad base ref", m + "base_model: '@main'\n", `c.yml:3:13: model reference "@main": empty path`},
		{"dict ref without model", m + "base_model: {path: a}\n", "c.yml:3:13: base_model needs a model: {path: ...}"},
		{"dict ref empty path", m + "base_model: {model: {path: ''}}\n", "c.yml:3:21: model needs a non-empty path"},
		{"dict ref path list", m + "base_model: {model: {path: [a]}}\n", "c.yml:3:28: model.path must be a string, not a list"},
		{"dict ref two revisions", m + "base_model: {model: a@1@2}\n", `c.yml:3:21: model: more than one '@' in "a@1@2"`},
		{"dict lora scalar", m + "base_model: {model: a, lora: [b]}\n", "c.yml:3:30: lora must be a mapping, not a list"},
		{"short template", m + "chat_template: foo\n", `c.yml:3:16: invalid chat_template "foo": want auto, one of alpaca, chatml, exaone, llama3, mistral, or a Jinja template`},
		{"template without brace", m + "chat_template: this is a long sentence without braces\n", "c.yml:3:16: invalid chat_template"},
		{"template 19 runes", m + "chat_template: \"{{ü}}ü ü ü ü ü ü ü\"\n", "invalid chat_template"},
		{"template list", m + "chat_template: [chatml]\n", "c.yml:3:16: chat_template must be a string, not a list"},
		{"tokenizer twice", m + "tokenizer_source: union\ntokenizer: {source: base}\n", "c.yml:3:1: tokenizer_source and tokenizer cannot both be set"},
		{"tokenizer list", m + "tokenizer: [union]\n", "c.yml:3:12: tokenizer must be a mapping, not a list"},
		{"tokenizer source bad", m + "tokenizer: {source: a@b@c}\n", `c.yml:3:21: model reference "a@b@c": more than one '@'`},
		{"tokenizer_source list", m + "tokenizer_source: [a]\n", "c.yml:3:19: tokenizer_source must be a model reference, not a list"},
		{"tokens list", m + "tokenizer: {tokens: [a]}\n", "c.yml:3:21: tokenizer.tokens must be a mapping, not a list"},
		{"token scalar", m + "tokenizer:\n  tokens:\n    <x>: a\n", `c.yml:5:10: token "<x>" must be a mapping, not "a"`},
		{"model_token both", m + "tokenizer:\n  tokens:\n    x:\n      source: {kind: model_token, model: a, token: y, token_id: 3}\n",
			"c.yml:6:15: a model_token source needs exactly one of token and token_id"},
		{"model_token neither", m + "tokenizer:\n  tokens:\n    x:\n      source: {kind: model_token, model: a}\n", "exactly one of token and token_id"},
		{"model_token no model", m + "tokenizer:\n  tokens:\n    x:\n      source: {kind: model_token, token: y}\n", "c.yml:6:15: a model_token source needs a model"},
		{"model_token bad id", m + "tokenizer:\n  tokens:\n    x:\n      source: {kind: model_token, model: a, token_id: 1.5}\n", "c.yml:6:55: token_id: 1.5 is not an integer"},
		{"unknown kind", m + "tokenizer:\n  tokens:\n    x:\n      source: {kind: mean}\n", `c.yml:6:22: token source kind "mean" is not model_token or zero`},
		{"token force string", m + "tokenizer:\n  tokens:\n    x: {force: maybe}\n", `c.yml:5:16: force: string "maybe" is not a boolean`},
		{"pad negative", m + "tokenizer: {pad_to_multiple_of: -8}\n", "c.yml:3:33: pad_to_multiple_of must be a positive integer, not -8"},
		{"pad zero", m + "tokenizer: {pad_to_multiple_of: 0}\n", "pad_to_multiple_of must be a positive integer"},
		{"pad fraction", m + "tokenizer: {pad_to_multiple_of: 6.5}\n", "c.yml:3:33: pad_to_multiple_of: 6.5 is not an integer"},
		{"modules list", "merge_method: linear\nmodules: [a]\n", "c.yml:2:10: modules must be a mapping, not a list"},
		{"module both", "merge_method: linear\nmodules:\n  text:\n    models: [{model: a}]\n    slices: [{sources: [{model: a}]}]\n", `c.yml:3:3: module "text" needs exactly one of models or slices`},
		{"module neither", "merge_method: linear\nmodules:\n  text:\n    parameters: {t: 1}\n", `c.yml:3:3: module "text" needs exactly one of models or slices`},
		{"module scalar", "merge_method: linear\nmodules:\n  text: a\n", `c.yml:3:9: module "text" must be a mapping, not "a"`},
		{"two documents", "merge_method: linear\nmodels: [{model: a}]\n---\nmerge_method: ties\n", "c.yml:3:1: multiple YAML documents: use `gomerge multi`"},
		{"merge key of a scalar", "merge_method: x\nmodels: [{model: m, <<: 1}]\n", `c.yml:2:25: a merge key (<<) takes a mapping or a list of mappings, not "1"`},
		{"merge key list of scalars", "merge_method: x\nmodels: [{model: m, <<: [a]}]\n", `c.yml:2:26: a merge key (<<) takes a mapping or a list of mappings, not "a"`},
		{"recursive merge key", "merge_method: x\nmodels:\n  - &a {model: m, <<: *a}\n", "c.yml:3:5: a merge key (<<) includes the mapping that holds it"},
		{"recursive value", "merge_method: x\nparameters: &p {weight: {value: *p}}\nmodels: [{model: a}]\n", `c.yml:2:13: parameter "weight": a condition's value must be a number or a list of numbers`},
		{"recursive list", "merge_method: x\nparameters: {weight: &l [1, *l]}\nmodels: [{model: a}]\n", `c.yml:2:22: parameter "weight": gradient entries must be numbers, not a list`},
		{"list key", "merge_method: x\nmodels: [{model: a}]\n? [k]\n: v\n", "c.yml:3:3: a key must be a string, not a list"},
		{"alias bomb", cfgAliasBomb(), "config too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yml), "c.yml")
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// cfgAliasBomb is a small config whose aliases expand to 10^12 parameter
// lookups.
func cfgAliasBomb() string {
	var b strings.Builder
	b.WriteString("p: &p {weight: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n")
	b.WriteString("s: &s [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{model: a, parameters: *p}")
	}
	b.WriteString("]\nl: &l [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{sources: *s}")
	}
	b.WriteString("]\nmerge_method: x\nslices: *l\n")
	return b.String()
}

func TestParseConfigWarnings(t *testing.T) {
	const m = "merge_method: x\nmodels: [{model: a}]\n"
	tests := []struct {
		name, yml string
		want      []string
	}{
		{"unknown top-level keys", m + "embed_slerp: true\nconsensus_method: sum\n",
			[]string{`c.yml:3:1: unknown key "embed_slerp" ignored`, `c.yml:4:1: unknown key "consensus_method" ignored`}},
		{"unknown nested keys", "merge_method: x\nmodels:\n  - model: a\n    weight: 1\nslices: null\nparameters: {w: [{filter: a, value: 1, note: x}]}\n",
			[]string{`c.yml:4:5: unknown key "weight" ignored`, `c.yml:6:40: unknown key "note" ignored`}},
		{"unknown keys in refs and tokens", m + "base_model: {model: {path: a, branch: b}, adapter: c}\ntokenizer:\n  pad: 8\n  tokens:\n    x: {source: {kind: zero, model: a}, weight: 1}\n",
			[]string{`c.yml:3:31: unknown key "branch" ignored`, `c.yml:3:43: unknown key "adapter" ignored`, `c.yml:5:3: unknown key "pad" ignored`,
				`c.yml:7:30: unknown key "model" ignored`, `c.yml:7:41: unknown key "weight" ignored`}},
		{"single conditional object", m + "parameters:\n  weight: {filter: mlp, value: 2}\n",
			[]string{`c.yml:4:11: parameter "weight": a single {filter, value} entry should be in a list; read as a list of one`}},
		{"null parameter", m + "parameters:\n  weight:\n", []string{`c.yml:4:3: parameter "weight" has no value; ignored`}},
		{"aliased unknown key warns once", "x: &x {model: a, extra: 1}\nmerge_method: y\nmodels: [*x, *x]\n",
			[]string{`c.yml:1:1: unknown key "x" ignored`, `c.yml:1:18: unknown key "extra" ignored`}},
		{"non-scalar name", m + "name: [a]\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfgParse(t, tc.yml)
			if strings.Join(c.Warnings, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("warnings\n%s\nwant\n%s", strings.Join(c.Warnings, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestConfigErrorString(t *testing.T) {
	tests := []struct {
		e    ConfigError
		want string
	}{
		{ConfigError{File: "c.yml", Pos: Pos{3, 7}, Msg: "bad"}, "c.yml:3:7: bad"},
		{ConfigError{File: "c.yml", Pos: Pos{3, 0}, Msg: "bad"}, "c.yml:3: bad"},
		{ConfigError{File: "c.yml", Msg: "bad"}, "c.yml: bad"},
		{ConfigError{Pos: Pos{3, 7}, Msg: "bad"}, "3:7: bad"},
		{ConfigError{Msg: "bad"}, "bad"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestLoadConfigMissing(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}
