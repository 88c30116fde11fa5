package merge

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// lin2 is a two-model config of method with the models' parameters.
func lin2(method, extra, p1, p2 string) string {
	return "merge_method: " + method + "\n" + extra +
		"models:\n  - model: base\n    parameters: {" + p1 + "}\n  - model: ft1\n    parameters: {" + p2 + "}\n"
}

// degenerateConfigs make every tensor named in want NaN or infinite.
var degenerateConfigs = []struct{ name, yml, want string }{
	{"weight nan", lin2("linear", "", "weight: .nan", "weight: 1"),
		`config.yml:4:26: linear: degenerate merge parameters: parameter "weight" of model base is NaN for tensor model.embed_tokens.weight`},
	{"weight inf", lin2("linear", "", "weight: 1", "weight: -.inf"),
		`config.yml:6:26: linear: degenerate merge parameters: parameter "weight" of model ft1 is -Inf for tensor model.embed_tokens.weight`},
	{"all weights zero", lin2("linear", "", "weight: 0", "weight: 0"),
		"config.yml:4:26: linear: degenerate merge parameters: the weights of tensor model.embed_tokens.weight sum to 0 in F32 (base 0 (line 4), ft1 0 (line 6))"},
	{"weights cancel", lin2("linear", "", "weight: 1", "weight: -1"),
		"config.yml:4:26: linear: degenerate merge parameters: the weights of tensor model.embed_tokens.weight sum to 0"},
	{"weights cancel, global normalize", lin2("linear", "parameters: {normalize: true}\n", "weight: 0.5", "weight: -0.5"),
		"the weights of tensor model.embed_tokens.weight sum to 0"},
	{"nan in a gradient", lin2("linear", "", "weight: [1, .nan, 1]", "weight: 1"),
		`config.yml:4:26: linear: degenerate merge parameters: parameter "weight" of model base is NaN for tensor model.embed_tokens.weight`},
	{"nan in the last layers only", lin2("linear", "", "weight: [1, 1, 1, .nan]", "weight: 1"),
		`parameter "weight" of model base is NaN for tensor model.layers.2.input_layernorm.weight`},
	{"nan behind a filter", lin2("linear", "", "weight: [{filter: mlp, value: .nan}, {value: 1}]", "weight: 1"),
		`config.yml:4:48: linear: degenerate merge parameters: parameter "weight" of model base is NaN for tensor model.layers.0.mlp.up_proj.weight`},
	{"cancel behind a filter", lin2("linear", "", "weight: 1", "weight: [{filter: self_attn, value: -1}, {value: 1}]"),
		"the weights of tensor model.layers.0.self_attn.q_proj.weight sum to 0"},
	{"weight overflows float16", lin2("linear", "dtype: float16\n", "weight: 100000", "weight: 1"),
		"weight 100000 of model base overflows F16, the working dtype of tensor model.embed_tokens.weight"},
	{"slice-level weights cancel", "merge_method: linear\nslices:\n  - sources:\n      - model: base\n        layer_range: [0, 4]\n        parameters: {weight: [1, 0]}\n      - model: ft1\n        layer_range: [0, 4]\n    parameters: {weight: -1}\n",
		"config.yml:6:30: linear: degenerate merge parameters: the weights of tensor model.embed_tokens.weight sum to 0 in F32 (base 1 (line 6), ft1 -1 (line 9))"},
	{"multislerp all zero", "merge_method: multislerp\nmodels:\n  - model: ft1\n    parameters: {weight: 0}\n  - model: ft2\n    parameters: {weight: 0}\n",
		"config.yml:4:26: multislerp: degenerate merge parameters: the weights of tensor model.embed_tokens.weight sum to 0"},
	{"ties nan weight", "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: .nan, density: 0.5}\n",
		`config.yml:5:26: ties: degenerate merge parameters: parameter "weight" of model ft1 is NaN`},
	{"ties nan density", "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 1, density: .nan}\n",
		`parameter "density" of model ft1 is NaN`},
	{"della nan density", "merge_method: della\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 1, density: .nan}\n",
		`config.yml:5:38: della: degenerate merge parameters: parameter "density" of model ft1 is NaN`},
	{"dare_ties inf weight at the top", "merge_method: dare_ties\nbase_model: base\nparameters: {weight: .inf, density: 0.5}\nmodels:\n  - model: ft1\n",
		`config.yml:3:22: dare_ties: degenerate merge parameters: parameter "weight" of model ft1 is +Inf`},
	{"weight nan as a string", lin2("linear", "", `weight: "nan"`, "weight: 1"),
		`parameter "weight" of model base is NaN`},
	{"task_arithmetic inf lambda", "merge_method: task_arithmetic\nbase_model: base\nparameters: {lambda: .inf}\nmodels:\n  - model: ft1\n    parameters: {weight: 1}\n",
		`config.yml:3:22: task_arithmetic: degenerate merge parameters: parameter "lambda" is +Inf for tensor model.embed_tokens.weight`},
	{"slerp nan t", "merge_method: slerp\nbase_model: base\nparameters: {t: .nan}\nmodels:\n  - model: base\n  - model: ft1\n",
		`config.yml:3:17: slerp: degenerate merge parameters: parameter "t" is NaN`},
	{"nuslerp inf weight", lin2("nuslerp", "", "weight: .inf", "weight: 1"),
		`nuslerp: degenerate merge parameters: parameter "weight" of model base is +Inf`},
	{"passthrough nan scale", "merge_method: passthrough\nmodels:\n  - model: ft1\n    parameters: {scale: .nan}\n",
		`config.yml:4:25: passthrough: degenerate merge parameters: parameter "scale" of model ft1 is NaN`},
	{"karcher nan tol", "merge_method: karcher\nparameters: {tol: .nan}\nmodels:\n  - model: ft1\n  - model: ft2\n",
		`karcher: degenerate merge parameters: parameter "tol" is NaN`},
}

func TestPlanRefusesDegenerate(t *testing.T) {
	dir := tinyModels(t)
	for _, tt := range degenerateConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := planYAML(t, dir, tt.yml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrDegenerate) {
				t.Errorf("error %v does not wrap ErrDegenerate", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *ConfigError", err)
			}
			cfg, err := ParseConfig([]byte(tt.yml), "config.yml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(cfg, PlanOptions{Dir: dir, AllowDegenerate: true})
			if err != nil {
				t.Fatalf("with AllowDegenerate: %v", err)
			}
			defer p.Close()
			if !containsWarning(p.Warnings, tt.want) {
				t.Errorf("with AllowDegenerate, warnings %q lack %q", p.Warnings, tt.want)
			}
		})
	}
}

func containsWarning(ws []string, s string) bool {
	for _, w := range ws {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}

// finiteConfigs look like degenerateConfigs but give finite outputs.
var finiteConfigs = []struct{ name, yml string }{
	{"one weight zero", lin2("linear", "", "weight: 0", "weight: 1")},
	{"cancelling weights without normalize", lin2("linear", "parameters: {normalize: false}\n", "weight: 1", "weight: -1")},
	{"zero weights without normalize", lin2("linear", "parameters: {normalize: false}\n", "weight: 0", "weight: 0")},
	{"negative weights", lin2("linear", "", "weight: -1", "weight: 2")},
	{"task vectors cancel", "merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 1}\n  - model: ft2\n    parameters: {weight: -1}\n"},
	{"task vectors cancel with normalize", "merge_method: task_arithmetic\nbase_model: base\nparameters: {normalize: true}\nmodels:\n  - model: ft1\n    parameters: {weight: 1}\n  - model: ft2\n    parameters: {weight: -1}\n"},
	{"ties zero weights", "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 0, density: 0.5}\n  - model: ft2\n    parameters: {weight: 0, density: 0.5}\n"},
	{"base weight unused", "merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: base\n    parameters: {weight: .nan}\n  - model: ft1\n    parameters: {weight: 1}\n"},
	{"nuslerp weights cancel", "merge_method: nuslerp\nmodels:\n  - model: ft1\n    parameters: {weight: -0.5}\n  - model: ft2\n    parameters: {weight: 0.5}\n"},
	{"multislerp lone input", "merge_method: multislerp\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 0}\n"},
	{"passthrough zero scale", "merge_method: passthrough\nmodels:\n  - model: ft1\n    parameters: {scale: [{filter: o_proj, value: 0}, {value: 1}]}\n"},
	{"unused parameter", "merge_method: sce\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: .nan}\n  - model: ft2\n"},
}

// TestPlanAcceptsNonDegenerate holds configs that look alike but whose
// outputs are finite.
func TestPlanAcceptsNonDegenerate(t *testing.T) {
	dir := tinyModels(t)
	for _, tt := range finiteConfigs {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := planYAML(t, dir, tt.yml); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDegenerateMeansNonFinite runs both tables: every refused config,
// merged with AllowDegenerate, writes NaN or infinite values (the check
// refuses nothing finite), and every accepted one writes none.
func TestDegenerateMeansNonFinite(t *testing.T) {
	if testing.Short() {
		t.Skip("merges 30 models")
	}
	dir := tinyModels(t)
	// Non-finite parameters that give finite garbage: gomerge's
	// passthrough reads a NaN scale as "no scale" and copies (mergekit
	// multiplies by it); an infinite nuslerp weight makes t = 1/∞ = 0;
	// a NaN karcher tol leaves no input valid and gives zeros; della
	// draws its mask from NaN keep probabilities and writes finite values.
	finiteGarbage := map[string]bool{"passthrough nan scale": true, "nuslerp inf weight": true, "karcher nan tol": true,
		"della nan density": true}
	run := func(t *testing.T, yml string) (bad, total int, err error) {
		cfg, err := ParseConfig([]byte(yml), "config.yml")
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		opt := Options{PlanOptions: PlanOptions{Dir: dir, AllowDegenerate: true}, Seed: new(uint64(1))}
		if _, err := Run(context.Background(), cfg, out, opt); err != nil {
			return 0, 0, err
		}
		bad, total = nonFinite(t, out)
		return bad, total, nil
	}
	for _, tt := range degenerateConfigs {
		t.Run(tt.name, func(t *testing.T) {
			bad, total, err := run(t, tt.yml)
			switch {
			case err != nil:
				t.Logf("the merge fails: %v", err) // a NaN density
			case bad == 0 && !finiteGarbage[tt.name]:
				t.Errorf("refused, but all %d values are finite", total)
			}
		})
	}
	for _, tt := range finiteConfigs {
		t.Run(tt.name, func(t *testing.T) {
			bad, total, err := run(t, tt.yml)
			if err != nil {
				t.Fatal(err)
			}
			if bad > 0 {
				t.Errorf("accepted, but %d of %d values are NaN or infinite", bad, total)
			}
		})
	}
}

// nonFinite counts the NaN and infinite values of a merged model.
func nonFinite(t *testing.T, dir string) (bad, total int) {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, name := range m.Names() {
		info, _ := m.Tensor(name)
		raw := make([]byte, info.Size)
		if err := m.ReadTensor(name, raw); err != nil {
			t.Fatal(err)
		}
		dt, err := tensor.ParseDType(string(info.DType))
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, info.NumElements())
		if err := tensor.Decode(v, raw, dt); err != nil {
			t.Fatal(err)
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				bad++
			}
		}
		total += len(v)
	}
	return bad, total
}
