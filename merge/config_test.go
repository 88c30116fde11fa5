package merge

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfigGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/configs/*.yml")
	if len(files) == 0 {
		t.Fatal("no configs")
	}
	for _, f := range files {
		cfg, err := LoadConfig(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if cfg.MergeMethod == "" || len(cfg.Models)+len(cfg.Slices) == 0 {
			t.Errorf("%s: parsed to %+v", f, cfg)
		}
		if len(cfg.Warnings) != 0 {
			t.Errorf("%s: warnings %v", f, cfg.Warnings)
		}
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
base: &base
  model: org/base@main
merge_method: ties
base_model: org/base@main
models:
  - *base
  - model: org/ft+adapters/lora@v2
    parameters:
      weight: [1, 0.5]
      density:
        - filter: mlp
          value: 0.7
        - value: 0.5
  - model:
      model: {path: org/other, revision: abc}
      override_architecture: MistralForCausalLM
    parameters: {weight: true}
parameters: &p
  normalize: false
  lambda: 2
slices: null
dtype: torch.bfloat16
out_dtype: float16
chat_template: chatml
embed_slerp: true
`), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MergeMethod != "ties" || cfg.MergeMethodPos != (Pos{4, 15}) {
		t.Errorf("method %q at %v", cfg.MergeMethod, cfg.MergeMethodPos)
	}
	if cfg.DType != "bfloat16" || cfg.OutDType != "float16" || cfg.ChatTemplate != "chatml" {
		t.Errorf("dtypes %q %q template %q", cfg.DType, cfg.OutDType, cfg.ChatTemplate)
	}
	if len(cfg.Models) != 3 {
		t.Fatalf("%d models", len(cfg.Models))
	}
	if r := cfg.Models[0].Model; r.Path != "org/base" || r.Revision != "main" || !r.Equal(*cfg.BaseModel) {
		t.Errorf("alias model %+v", r)
	}
	if r := cfg.Models[1].Model; r.LoRA == nil || r.LoRA.Path != "adapters/lora" || r.LoRA.Revision != "v2" || r.String() != "org/ft+adapters/lora@v2" {
		t.Errorf("lora ref %+v", r)
	}
	if r := cfg.Models[2].Model; r.Path != "org/other" || r.Revision != "abc" || r.OverrideArchitecture != "MistralForCausalLM" {
		t.Errorf("dict ref %+v", r)
	}
	w, _ := cfg.Models[1].Parameters.Get("weight")
	if v, _ := w.Eval("x", 0.5); v != 0.75 {
		t.Errorf("gradient at 0.5 = %v", v)
	}
	d, _ := cfg.Models[1].Parameters.Get("density")
	if v, _ := d.Eval("model.layers.0.mlp.up_proj.weight", 0); v != 0.7 {
		t.Errorf("filtered density = %v", v)
	}
	if v, _ := d.Eval("model.layers.0.self_attn.q_proj.weight", 0); v != 0.5 {
		t.Errorf("fallback density = %v", v)
	}
	if s, _ := cfg.Models[2].Parameters.Get("weight"); s.Scalar != 1 {
		t.Errorf("bool weight = %v", s.Scalar)
	}
	if got := cfg.Parameters.Names(); strings.Join(got, ",") != "normalize,lambda" {
		t.Errorf("parameter order %v", got)
	}
	if len(cfg.Warnings) != 2 || !strings.Contains(strings.Join(cfg.Warnings, "\n"), `c.yml:26:1: unknown key "embed_slerp" ignored`) {
		t.Errorf("warnings %q", cfg.Warnings)
	}
}

func TestParseConfigMergeKeys(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
defaults: &d
  weight: 0.5
  density: 0.3
merge_method: dare_ties
base_model: b
models:
  - model: a
    parameters:
      <<: *d
      density: 0.9
`), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	ps := cfg.Models[0].Parameters
	w, _ := ps.Get("weight")
	d, _ := ps.Get("density")
	if w.Scalar != 0.5 || d.Scalar != 0.9 {
		t.Errorf("weight %v density %v", w.Scalar, d.Scalar)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, yml, want string }{
		{"yaml syntax", "merge_method: linear\nmodels\n  - model: a\n", "c.yml:2: invalid YAML"},
		{"empty", "", "empty config"},
		{"no method", "models: [{model: a}]\n", "c.yml:1:1: merge_method is required"},
		{"method not string", "merge_method: [a]\nmodels: [{model: a}]\n", "c.yml:1:15: merge_method must be a string"},
		{"no inputs", "merge_method: linear\n", "exactly one of 'models', 'slices', or 'modules'"},
		{"both inputs", "merge_method: linear\nmodels: [{model: a}]\nslices: [{sources: [{model: a}]}]\n", "exactly one of"},
		{"models not list", "merge_method: linear\nmodels: foo\n", `c.yml:2:9: models must be a list, not "foo"`},
		{"string parameter", "merge_method: linear\nmodels:\n  - model: a\n    parameters:\n      weight: abc\n", `c.yml:5:15: parameter "weight": string "abc" is not a number`},
		{"parameters list", "merge_method: linear\nparameters: [1, 2]\nmodels: [{model: a}]\n", "c.yml:2:13: parameters must be a mapping"},
		{"bad gradient", "merge_method: linear\nparameters: {weight: [1, x]}\nmodels: [{model: a}]\n", `c.yml:2:26: parameter "weight": gradient entries must be numbers`},
		{"layer range short", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0]\n", "c.yml:5:22: layer_range must be [start, end], got 1 values"},
		{"layer range reversed", "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [4, 2]\n", "layer_range [4, 2] is empty"},
		{"empty sources", "merge_method: passthrough\nslices:\n  - sources: []\n", "c.yml:3:5: slice needs a non-empty sources list"},
		{"bad dtype", "merge_method: linear\nmodels: [{model: a}]\ndtype: bf16\n", `c.yml:3:8: dtype "bf16" is not one of bfloat16, float16, float32, int64`},
		{"bad ref", "merge_method: linear\nmodels: [{model: a+b+c}]\n", `c.yml:2:18: model reference "a+b+c" has more than one '+'`},
		{"two revisions", "merge_method: linear\nmodels: [{model: a@1@2}]\n", "more than one '@'"},
		{"short template", "merge_method: linear\nmodels: [{model: a}]\nchat_template: foo\n", `c.yml:3:16: invalid chat_template "foo"`},
		{"tokenizer twice", "merge_method: linear\nmodels: [{model: a}]\ntokenizer_source: union\ntokenizer: {source: base}\n", "c.yml:4:12: tokenizer and tokenizer_source cannot both be set"},
		{"model_token both", "merge_method: linear\nmodels: [{model: a}]\ntokenizer:\n  tokens:\n    x:\n      source: {kind: model_token, model: a, token: y, token_id: 3}\n", "exactly one of token and token_id"},
		{"pad negative", "merge_method: linear\nmodels: [{model: a}]\ntokenizer: {pad_to_multiple_of: -8}\n", "pad_to_multiple_of must be a positive integer"},
		{"module both", "merge_method: linear\nmodules:\n  text:\n    models: [{model: a}]\n    slices: [{sources: [{model: a}]}]\n", "module text needs exactly one of models or slices"},
		{"two documents", "merge_method: linear\nmodels: [{model: a}]\n---\nmerge_method: ties\n", "c.yml:3:1: more than one YAML document"},
		{"recursive merge key", "merge_method: x\nmodels:\n  - &a {model: m, <<: *a}\n", "c.yml:3:5: a merge key's value merges itself recursively"},
		{"recursive value", "merge_method: x\nparameters: &p {weight: {value: *p}}\nmodels: [{model: a}]\n", "a value must be a number or a list of numbers"},
		{"duplicate key", "merge_method: linear\nmerge_method: ties\nmodels: [{model: a}]\n", `duplicate key "merge_method"`},
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

func TestSettingEval(t *testing.T) {
	// mergekit's examples/gradient-slerp.yml at layer 13 of 40 (spec 1.6).
	cfg, err := ParseConfig([]byte(`merge_method: slerp
models: [{model: a}]
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5
`), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := cfg.Parameters.Get("t")
	tt := 13.0 / 39
	tests := []struct {
		name string
		t    float64
		want float64
	}{
		{"model.layers.13.self_attn.q_proj.weight", tt, 0.5*(1-1.0/3) + 0.3/3},
		{"model.layers.13.mlp.up_proj.weight", tt, 0.5*(2.0/3) + 0.7/3},
		{"model.layers.13.input_layernorm.weight", tt, 0.5},
		{"model.layers.0.self_attn.q_proj.weight", 0, 0},
		{"model.layers.39.self_attn.q_proj.weight", 1, 1},
		{"model.layers.39.mlp.up_proj.weight", 1, 0},
	}
	for _, tc := range tests {
		v, ok := s.Eval(tc.name, tc.t)
		if !ok || math.Abs(v-tc.want) > 1e-12 {
			t.Errorf("%s at %v: %v, want %v", tc.name, tc.t, v, tc.want)
		}
	}
	none := Setting{Kind: Conditional, Conds: []Cond{{Filter: "mlp", HasFilter: true, Value: Setting{Kind: Scalar, Scalar: 1}}}}
	if _, ok := none.Eval("self_attn", 0); ok {
		t.Error("no matching filter should give no value")
	}
	single, _ := ParseConfig([]byte("merge_method: linear\nmodels: [{model: a}]\nparameters:\n  weight: {filter: mlp, value: 2}\n"), "c.yml")
	if w, _ := single.Parameters.Get("weight"); w.Kind != Conditional || len(single.Warnings) != 1 {
		t.Errorf("single conditional object: %+v, warnings %v", w, single.Warnings)
	}
}

func TestParseModelRef(t *testing.T) {
	tests := []struct {
		in, path, rev, lora, loraRev string
		err                          bool
	}{
		{in: "org/model", path: "org/model"},
		{in: "org/model@v1", path: "org/model", rev: "v1"},
		{in: "org/model+lora", path: "org/model", lora: "lora"},
		{in: "org/model@r+lora@s", path: "org/model", rev: "r", lora: "lora", loraRev: "s"},
		{in: "a+b+c", err: true}, {in: "a@b@c", err: true}, {in: "", err: true}, {in: "@x", err: true}, {in: "a@", err: true},
	}
	for _, tc := range tests {
		r, err := ParseModelRef(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if tc.err {
			continue
		}
		lora, loraRev := "", ""
		if r.LoRA != nil {
			lora, loraRev = r.LoRA.Path, r.LoRA.Revision
		}
		if r.Path != tc.path || r.Revision != tc.rev || lora != tc.lora || loraRev != tc.loraRev {
			t.Errorf("%q: %+v", tc.in, r)
		}
		if back, _ := ParseModelRef(r.String()); !back.Equal(r) || r.String() != tc.in {
			t.Errorf("%q does not round-trip: %q", tc.in, r.String())
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/configs/*.yml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("merge_method: x\nmodels:\n  - &a {model: m, <<: *a}\n"))
	f.Add([]byte("merge_method: x\nmodels:\n  - <<: {model: a}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "f.yml")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			return
		}
		if cfg.MergeMethod == "" {
			t.Fatal("accepted a config without merge_method")
		}
		for _, name := range cfg.Parameters.Names() {
			s, _ := cfg.Parameters.Get(name)
			s.Eval("model.layers.0.mlp.up_proj.weight", 0.5)
		}
	})
}
