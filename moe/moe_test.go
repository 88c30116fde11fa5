package moe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// small is the shape of the test models: 2 layers, hidden 16, a byte
// vocabulary.
func small(s testmodel.Spec) testmodel.Spec {
	s.Hidden, s.Intermediate, s.Layers, s.Heads, s.KVHeads, s.Vocab = 16, 32, 2, 2, 1, 256
	return s
}

// models writes a base and three fine-tunes of it into a new directory.
func models(t *testing.T, dt tensor.DType) string {
	t.Helper()
	dir := t.TempDir()
	testmodel.Must(t.Fatal, filepath.Join(dir, "base"), small(testmodel.Spec{Seed: 1, DType: dt}))
	for i := 1; i <= 3; i++ {
		testmodel.Must(t.Fatal, filepath.Join(dir, fmt.Sprintf("ft%d", i)), small(testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: uint64(i + 1), DType: dt}))
	}
	return dir
}

func plan(t *testing.T, dir, yml string, opt PlanOptions) (*Plan, error) {
	t.Helper()
	cfg, err := ParseConfig([]byte(yml), "moe.yml")
	if err != nil {
		return nil, err
	}
	opt.Dir = dir
	return NewPlan(context.Background(), cfg, opt)
}

func build(t *testing.T, dir, yml string, popt PlanOptions, opt Options) (string, *Plan) {
	t.Helper()
	pl, err := plan(t, dir, yml, popt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	out := t.TempDir()
	if _, err := Build(context.Background(), pl, out, opt); err != nil {
		t.Fatal(err)
	}
	return out, pl
}

func readAll(t *testing.T, dir string) (map[string][]byte, map[string]safetensors.TensorInfo) {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data, infos := map[string][]byte{}, map[string]safetensors.TensorInfo{}
	for _, name := range m.Names() {
		info, _ := m.Tensor(name)
		b := make([]byte, info.Size)
		if err := m.ReadTensor(name, b); err != nil {
			t.Fatal(err)
		}
		data[name], infos[name] = b, info
	}
	return data, infos
}

func tensorBytes(t *testing.T, dir, name string) []byte {
	t.Helper()
	data, _ := readAll(t, dir)
	b, ok := data[name]
	if !ok {
		t.Fatalf("%s has no %s", dir, name)
	}
	return b
}

func readConfig(t *testing.T, dir string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const threeExperts = `base_model: base
gate_mode: random
dtype: float32
experts:
  - source_model: ft1
  - source_model: ft2
  - source_model: ft3
  - source_model: base
`

// TestLayouts builds every output architecture and checks its tensor
// names, that expert tensors hold the experts' bytes (fused ones stacked
// in order), zero biases and config.json fields.
func TestLayouts(t *testing.T) {
	dir := models(t, tensor.F32)
	// Qwen3 models: the test model's table gives every matrix [h, h].
	for i, name := range []string{"q3base", "q3ft1", "q3ft2"} {
		s := testmodel.Spec{Arch: "Qwen3ForCausalLM", ModelType: "qwen3", Hidden: 16, Intermediate: 16, Layers: 2, Heads: 2, KVHeads: 1, Vocab: 64, Seed: 1}
		if i > 0 {
			s.Delta, s.DeltaSeed = 0.01, uint64(i+1)
		}
		testmodel.Must(t.Fatal, filepath.Join(dir, name), s)
	}
	shared := "shared_experts:\n  - source_model: base\n"
	tests := []struct {
		name, yml string
		layout    Layout
		class     string
		tensors   int
		// copies maps output tensors to (model, tensor) sources, in order.
		copies map[string][][2]string
		config map[string]any
	}{
		{"mixtral legacy", threeExperts, LayoutLegacy, "MixtralForCausalLM", 3 + 2*(6+4*3+1),
			map[string][][2]string{
				"model.layers.1.block_sparse_moe.experts.0.w1.weight": {{"ft1", "model.layers.1.mlp.gate_proj.weight"}},
				"model.layers.1.block_sparse_moe.experts.2.w2.weight": {{"ft3", "model.layers.1.mlp.down_proj.weight"}},
				"model.layers.0.block_sparse_moe.experts.3.w3.weight": {{"base", "model.layers.0.mlp.up_proj.weight"}},
				"model.layers.0.self_attn.k_proj.weight":              {{"base", "model.layers.0.self_attn.k_proj.weight"}},
			},
			map[string]any{"model_type": "mixtral", "num_local_experts": 4.0, "num_experts_per_tok": 2.0, "sliding_window": nil}},
		{"mixtral v5", threeExperts, LayoutV5, "MixtralForCausalLM", 3 + 2*9,
			map[string][][2]string{
				"model.layers.1.mlp.experts.gate_up_proj": {
					{"ft1", "model.layers.1.mlp.gate_proj.weight"}, {"ft1", "model.layers.1.mlp.up_proj.weight"},
					{"ft2", "model.layers.1.mlp.gate_proj.weight"}, {"ft2", "model.layers.1.mlp.up_proj.weight"},
					{"ft3", "model.layers.1.mlp.gate_proj.weight"}, {"ft3", "model.layers.1.mlp.up_proj.weight"},
					{"base", "model.layers.1.mlp.gate_proj.weight"}, {"base", "model.layers.1.mlp.up_proj.weight"}},
				"model.layers.0.mlp.experts.down_proj": {
					{"ft1", "model.layers.0.mlp.down_proj.weight"}, {"ft2", "model.layers.0.mlp.down_proj.weight"},
					{"ft3", "model.layers.0.mlp.down_proj.weight"}, {"base", "model.layers.0.mlp.down_proj.weight"}},
			},
			map[string]any{"model_type": "mixtral", "num_local_experts": 4.0}},
		{"qwen2 moe", "architecture: qwen\nexperts_per_token: 1\n" + strings.Replace(threeExperts, "  - source_model: base\n", "", 1) + shared,
			LayoutV5, "Qwen2MoeForCausalLM", 3 + 2*(6+3+3*3+3+2),
			map[string][][2]string{
				"model.layers.0.mlp.experts.1.up_proj.weight":       {{"ft2", "model.layers.0.mlp.up_proj.weight"}},
				"model.layers.1.mlp.shared_expert.down_proj.weight": {{"base", "model.layers.1.mlp.down_proj.weight"}},
			},
			map[string]any{"model_type": "qwen2_moe", "num_experts": 3.0, "num_experts_per_tok": 1.0, "decoder_sparse_step": 1.0,
				"shared_expert_intermediate_size": 32.0, "moe_intermediate_size": 32.0, "use_sliding_window": false}},
		{"deepseek", strings.Replace(threeExperts, "  - source_model: base\n", "", 1) + shared,
			LayoutV5, "DeepseekForCausalLM", 3 + 2*(6+3*3+3+1),
			map[string][][2]string{
				"model.layers.1.mlp.experts.2.gate_proj.weight":    {{"ft3", "model.layers.1.mlp.gate_proj.weight"}},
				"model.layers.0.mlp.shared_experts.up_proj.weight": {{"base", "model.layers.0.mlp.up_proj.weight"}},
			},
			map[string]any{"model_type": "deepseek", "n_routed_experts": 3.0, "n_shared_experts": 1.0, "first_k_dense_replace": 0.0,
				"moe_layer_freq": 1.0, "scoring_func": "softmax", "moe_intermediate_size": 32.0}},
		{"qwen3 legacy", "base_model: q3base\ngate_mode: random\nexperts:\n  - source_model: q3ft1\n  - source_model: q3ft2\n",
			LayoutLegacy, "Qwen3MoeForCausalLM", 3 + 2*(8+2*3+1),
			map[string][][2]string{
				"model.layers.1.mlp.experts.1.down_proj.weight": {{"q3ft2", "model.layers.1.mlp.down_proj.weight"}},
				"model.layers.1.self_attn.q_norm.weight":        {{"q3base", "model.layers.1.self_attn.q_norm.weight"}},
			},
			map[string]any{"model_type": "qwen3_moe", "num_experts": 2.0}},
		{"qwen3 v5", "base_model: q3base\ngate_mode: random\nexperts:\n  - source_model: q3ft1\n  - source_model: q3ft2\n",
			LayoutV5, "Qwen3MoeForCausalLM", 3 + 2*(8+2+1),
			map[string][][2]string{
				"model.layers.0.mlp.experts.gate_up_proj": {
					{"q3ft1", "model.layers.0.mlp.gate_proj.weight"}, {"q3ft1", "model.layers.0.mlp.up_proj.weight"},
					{"q3ft2", "model.layers.0.mlp.gate_proj.weight"}, {"q3ft2", "model.layers.0.mlp.up_proj.weight"}},
			},
			map[string]any{"model_type": "qwen3_moe", "decoder_sparse_step": 1.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, pl := build(t, dir, tt.yml, PlanOptions{Layout: tt.layout}, Options{Seed: 7})
			if pl.Class != tt.class {
				t.Fatalf("class %s, want %s", pl.Class, tt.class)
			}
			data, infos := readAll(t, out)
			if len(data) != tt.tensors {
				t.Errorf("%d tensors, want %d", len(data), tt.tensors)
			}
			for name, srcs := range tt.copies {
				var want []byte
				for _, s := range srcs {
					want = append(want, tensorBytes(t, filepath.Join(dir, s[0]), s[1])...)
				}
				if !bytes.Equal(data[name], want) {
					t.Errorf("%s does not hold %v", name, srcs)
				}
			}
			cfg := readConfig(t, out)
			if a, _ := cfg["architectures"].([]any); len(a) != 1 || a[0] != tt.class {
				t.Errorf("architectures %v", cfg["architectures"])
			}
			for k, v := range tt.config {
				if cfg[k] != v {
					t.Errorf("config %s = %v, want %v", k, cfg[k], v)
				}
			}
			if cfg["rope_theta"] != 10000.0 || cfg["torch_dtype"] != "float32" {
				t.Errorf("base fields not carried: rope_theta %v torch_dtype %v", cfg["rope_theta"], cfg["torch_dtype"])
			}
			for name, info := range infos {
				if strings.HasSuffix(name, "_proj.bias") {
					if !bytes.Equal(data[name], make([]byte, info.Size)) || info.Shape[0] != map[bool]int64{true: 16, false: 8}[strings.Contains(name, "q_proj")] {
						t.Errorf("%s: want zeros of the head sizes, got shape %v", name, info.Shape)
					}
				}
				if strings.HasSuffix(name, "gate.weight") && !strings.Contains(name, "shared") {
					if info.Shape[0] != int64(len(pl.experts)) || info.Shape[1] != 16 {
						t.Errorf("router %s has shape %v", name, info.Shape)
					}
				}
			}
		})
	}
}

// TestRandomGates checks the two random modes' distributions and that the
// output does not depend on the thread count.
func TestRandomGates(t *testing.T) {
	dir := models(t, tensor.BF16)
	for _, mode := range []string{"random", "uniform_random"} {
		t.Run(mode, func(t *testing.T) {
			yml := strings.Replace(threeExperts, "random", mode, 1)
			yml = strings.Replace(yml, "float32", "bfloat16", 1)
			a, _ := build(t, dir, yml, PlanOptions{}, Options{Seed: 42, Threads: 1})
			b, _ := build(t, dir, yml, PlanOptions{}, Options{Seed: 42, Threads: 8})
			c, _ := build(t, dir, yml, PlanOptions{}, Options{Seed: 43, Threads: 8})
			da, _ := readAll(t, a)
			db, _ := readAll(t, b)
			dc, _ := readAll(t, c)
			name := "model.layers.1.block_sparse_moe.gate.weight"
			for n := range da {
				if !bytes.Equal(da[n], db[n]) {
					t.Errorf("%s differs between -j 1 and -j 8", n)
				}
			}
			if bytes.Equal(da[name], dc[name]) {
				t.Errorf("seeds 42 and 43 give the same router")
			}
			v := make([]float32, len(da[name])/2)
			tensor.Decode(v, da[name], tensor.BF16)
			var sum, ss, maxAbs float64
			for _, x := range v {
				sum += float64(x)
				ss += float64(x) * float64(x)
				maxAbs = max(maxAbs, math.Abs(float64(x)))
			}
			mean, std := sum/float64(len(v)), math.Sqrt(ss/float64(len(v)))
			if mode == "random" && (math.Abs(mean) > 0.3 || std < 0.7 || std > 1.3) {
				t.Errorf("random gate mean %.2f std %.2f, want ~N(0,1)", mean, std)
			}
			if mode == "uniform_random" && (maxAbs > 0.25+1e-3 || std < 0.1) {
				t.Errorf("uniform gate max %.3f std %.3f, want within ±1/4", maxAbs, std)
			}
		})
	}
}

// TestCheapEmbed compares cheap_embed routers with a direct computation:
// per prompt list, the sum of the BOS and byte embeddings, normalised;
// positive minus negative, normalised again; the same for every layer.
func TestCheapEmbed(t *testing.T) {
	dir := models(t, tensor.F32)
	yml := `base_model: base
gate_mode: cheap_embed
dtype: bfloat16
experts:
  - source_model: ft1
    positive_prompts: ["write code", "fix the bug"]
  - source_model: ft2
    positive_prompts: ["solve 2+2"]
    negative_prompts: ["write a poem"]
  - source_model: ft3
    positive_prompts: ["écris un poème", "über"]
  - source_model: base
    positive_prompts: ["hello"]
`
	out, pl := build(t, dir, yml, PlanOptions{}, Options{})
	embed := tensorBytes(t, filepath.Join(dir, "base"), "model.embed_tokens.weight")
	E := make([]float32, len(embed)/4)
	tensor.Decode(E, embed, tensor.F32)
	H := 16
	vec := func(prompts []string) []float64 {
		v := make([]float64, H)
		for _, p := range prompts {
			for _, id := range append([]int{1}, bytesOf(p)...) {
				for i := 0; i < H; i++ {
					v[i] += float64(E[id*H+i])
				}
			}
		}
		normalize(v)
		return v
	}
	got := tensorBytes(t, out, "model.layers.1.block_sparse_moe.gate.weight")
	g := make([]float32, len(got)/2)
	tensor.Decode(g, got, tensor.BF16)
	for j, e := range pl.Config.Experts {
		want := vec(e.PositivePrompts)
		if len(e.NegativePrompts) > 0 {
			neg := vec(e.NegativePrompts)
			for i := range want {
				want[i] -= neg[i]
			}
			normalize(want)
		}
		for i := range want {
			if d := math.Abs(float64(g[j*H+i]) - float64(tensor.RoundScalar(tensor.BF16, float32(want[i])))); d > 1e-6 {
				t.Fatalf("expert %d row %d: %v, want %v", j, i, g[j*H+i], want[i])
			}
		}
	}
	if l0 := tensorBytes(t, out, "model.layers.0.block_sparse_moe.gate.weight"); !bytes.Equal(l0, got) {
		t.Errorf("cheap_embed gates differ between layers")
	}
}

func bytesOf(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

// TestResidualScaleAndDType checks residual_scale on down_proj only, done
// in the input dtype (bf16) and converted to the output dtype (f32).
func TestResidualScaleAndDType(t *testing.T) {
	dir := models(t, tensor.BF16)
	yml := `base_model: base
gate_mode: random
dtype: float32
experts:
  - source_model: ft1
    residual_scale: 0.3
  - source_model: ft2
`
	out, _ := build(t, dir, yml, PlanOptions{}, Options{})
	src := tensorBytes(t, filepath.Join(dir, "ft1"), "model.layers.0.mlp.down_proj.weight")
	v := make([]float32, len(src)/2)
	tensor.Decode(v, src, tensor.BF16)
	for i := range v {
		v[i] = tensor.RoundScalar(tensor.BF16, v[i]*float32(0.3))
	}
	want := make([]byte, len(v)*4)
	tensor.Encode(want, v, tensor.F32)
	if got := tensorBytes(t, out, "model.layers.0.block_sparse_moe.experts.0.w2.weight"); !bytes.Equal(got, want) {
		t.Errorf("scaled down_proj differs")
	}
	up := tensorBytes(t, filepath.Join(dir, "ft1"), "model.layers.0.mlp.up_proj.weight")
	u := make([]float32, len(up)/2)
	tensor.Decode(u, up, tensor.BF16)
	wantUp := make([]byte, len(u)*4)
	tensor.Encode(wantUp, u, tensor.F32)
	if got := tensorBytes(t, out, "model.layers.0.block_sparse_moe.experts.0.w3.weight"); !bytes.Equal(got, wantUp) {
		t.Errorf("up_proj was changed by residual_scale or converted wrongly")
	}
}

// TestGateVectors checks that --gate-vectors replaces the routers and that
// a file of the wrong shape is refused.
func TestGateVectors(t *testing.T) {
	dir := models(t, tensor.F32)
	yml := strings.Replace(threeExperts, "random", "hidden", 1)
	yml = strings.ReplaceAll(yml, "  - source_model: ft", "  - positive_prompts: [x]\n    source_model: ft")
	yml = strings.Replace(yml, "  - source_model: base", "  - positive_prompts: [y]\n    source_model: base", 1)
	write := func(shape ...int64) (string, []float32) {
		p := filepath.Join(t.TempDir(), "g")
		os.MkdirAll(p, 0o755)
		w, err := safetensors.Create(p, []safetensors.TensorSpec{{Name: "gate_vectors", DType: safetensors.F32, Shape: shape}}, safetensors.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, numel(shape))
		for i := range v {
			v[i] = float32(i) / 100
		}
		w.WriteTensor("gate_vectors", tensor.AsBytes(v))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(p, "model.safetensors"), v
	}
	path, v := write(2, 4, 16)
	out, _ := build(t, dir, yml, PlanOptions{}, Options{GateVectors: path})
	if got := tensorBytes(t, out, "model.layers.1.block_sparse_moe.gate.weight"); !bytes.Equal(got, tensor.AsBytes(v[64:])) {
		t.Errorf("layer 1 router is not the file's [1]")
	}
	bad, _ := write(2, 3, 16)
	pl, err := plan(t, dir, yml, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	if _, err := Build(context.Background(), pl, t.TempDir(), Options{GateVectors: bad}); err == nil || !strings.Contains(err.Error(), "[2 4 16]") {
		t.Errorf("wrong-shape gate vectors: err = %v", err)
	}
}

// TestPlanErrors checks the mistakes that need the models, each named by
// the YAML line of the entry at fault.
func TestPlanErrors(t *testing.T) {
	dir := models(t, tensor.F32)
	testmodel.Must(t.Fatal, filepath.Join(dir, "wide"), testmodel.Spec{Seed: 1, Hidden: 16, Intermediate: 48, Layers: 2, Heads: 2, KVHeads: 1})
	testmodel.Must(t.Fatal, filepath.Join(dir, "q2"), testmodel.Spec{Arch: "Qwen2ForCausalLM", ModelType: "qwen2", Hidden: 16, Intermediate: 16, Layers: 2, Heads: 2, KVHeads: 1})
	testmodel.Must(t.Fatal, filepath.Join(dir, "other"), small(testmodel.Spec{Seed: 9}))
	tests := []struct {
		name, yml, want string
		line            int
	}{
		{"other shape", "base_model: base\ngate_mode: random\nexperts:\n  - source_model: ft1\n  - source_model: wide\n",
			"expert 1 (wide): model.layers.0.mlp.gate_proj.weight has shape [48 16]", 5},
		{"other architecture", "base_model: base\ngate_mode: random\nexperts:\n  - source_model: ft1\n  - source_model: q2\n",
			`expert 1 (q2) has model_type "qwen2", the base "llama"`, 5},
		{"unknown architecture", "base_model: base\narchitecture: gpt5\ngate_mode: random\nexperts_per_token: 1\nexperts:\n  - source_model: ft1\n",
			`unknown architecture "gpt5"`, 2},
		{"qwen3 for llama", "base_model: base\narchitecture: qwen3\ngate_mode: random\nexperts_per_token: 1\nexperts:\n  - source_model: ft1\n",
			`Qwen3 MoE: the models' model_type "llama" is not one of qwen3`, 2},
		{"shared from elsewhere", "base_model: base\narchitecture: deepseek\ngate_mode: random\nexperts_per_token: 1\nexperts:\n  - source_model: ft1\nshared_experts:\n  - source_model: other\n",
			"shared expert other is neither the base model nor a routed expert", 8},
		{"missing model", "base_model: base\ngate_mode: random\nexperts:\n  - source_model: ft1\n  - source_model: nowhere\n",
			"no such directory", 5},
		{"all the same", "base_model: base\ngate_mode: cheap_embed\nexperts:\n  - source_model: ft1\n    positive_prompts: [a]\n  - source_model: ft1\n    positive_prompts: [b]\n",
			"--i-understand-this-is-not-useful-without-training", 4},
		{"qwen shared unprompted", "base_model: base\narchitecture: qwen\ngate_mode: cheap_embed\nexperts:\n  - source_model: ft1\n    positive_prompts: [a]\n  - source_model: ft2\n    positive_prompts: [b]\nshared_experts:\n  - source_model: base\n",
			"needs positive_prompts", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := plan(t, dir, tt.yml, PlanOptions{})
			if err == nil {
				pl.Close()
				t.Fatalf("no error, want %q", tt.want)
			}
			var ce *merge.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *merge.ConfigError", err)
			}
			if !strings.Contains(err.Error(), tt.want) || ce.Pos.Line != tt.line {
				t.Errorf("error %q (line %d), want %q at line %d", err, ce.Pos.Line, tt.want, tt.line)
			}
		})
	}
	pl, err := plan(t, dir, tests[6].yml, PlanOptions{AllowAllSame: true})
	if err != nil {
		t.Fatalf("AllowAllSame: %v", err)
	}
	pl.Close()
}

// TestTokenizerFiles checks the copied tokenizer (left padding, pad = BOS)
// and the generation_config.json whose EOS is the tokenizer's.
func TestTokenizerFiles(t *testing.T) {
	dir := models(t, tensor.F32)
	base := filepath.Join(dir, "base")
	tok := `{"version":"1.0","added_tokens":[{"id":1,"content":"<s>","special":true},{"id":3,"content":"<|end|>","special":true}],
"model":{"type":"BPE","vocab":{"<unk>":0,"<s>":1,"</s>":2,"<|end|>":3,"a":4},"merges":[]}}`
	os.WriteFile(filepath.Join(base, "tokenizer.json"), []byte(tok), 0o644)
	os.WriteFile(filepath.Join(base, "tokenizer_config.json"), []byte(`{"bos_token":"<s>","eos_token":"<|end|>","padding_side":"right"}`), 0o644)
	out, _ := build(t, dir, threeExperts, PlanOptions{}, Options{CopyTokenizer: true, WriteConfigYAML: true})
	var tc map[string]any
	raw, _ := os.ReadFile(filepath.Join(out, "tokenizer_config.json"))
	json.Unmarshal(raw, &tc)
	if tc["padding_side"] != "left" || tc["pad_token"] != "<s>" {
		t.Errorf("tokenizer_config.json: padding_side %v pad_token %v, want left and <s>", tc["padding_side"], tc["pad_token"])
	}
	var gc map[string]any
	raw, err := os.ReadFile(filepath.Join(out, "generation_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw, &gc)
	if eos, _ := gc["eos_token_id"].([]any); len(eos) != 2 || eos[0] != 3.0 || eos[1] != 2.0 {
		t.Errorf("generation_config eos_token_id %v, want [3 2] (the tokenizer's EOS first, config.json's kept)", gc["eos_token_id"])
	}
	if y, _ := os.ReadFile(filepath.Join(out, "mergekit_moe_config.yml")); string(y) != threeExperts {
		t.Errorf("mergekit_moe_config.yml is not the config text")
	}
}

// TestPlanCounts checks the plan's tensor count and bytes against the
// written output, without building twice.
func TestPlanCounts(t *testing.T) {
	dir := models(t, tensor.F32)
	out, pl := build(t, dir, strings.Replace(threeExperts, "float32", "bfloat16", 1), PlanOptions{}, Options{})
	data, _ := readAll(t, out)
	var n int64
	for _, b := range data {
		n += int64(len(b))
	}
	if len(data) != len(pl.Tensors) || n != pl.OutputBytes() {
		t.Errorf("wrote %d tensors, %d bytes; plan says %d, %d", len(data), n, len(pl.Tensors), pl.OutputBytes())
	}
	if pl.Shards(n/3) < 3 {
		t.Errorf("Shards(%d) = %d, want at least 3", n/3, pl.Shards(n/3))
	}
	if pl.PeakMemory(2) <= 0 || pl.PeakMemory(2) > 64<<20 {
		t.Errorf("PeakMemory(2) = %d", pl.PeakMemory(2))
	}
}

// TestHiddenGates checks hidden and hidden_avg against the embeddings at
// layer 0 (the state entering layer 0 is the token's embedding) and
// against the forward pass at layer 1: the last token's state (hidden) or
// the mean over the list's padded length with BOS padding (hidden_avg),
// averaged over prompts, minus the negatives, normalised.
func TestHiddenGates(t *testing.T) {
	dir := models(t, tensor.F32)
	base := filepath.Join(dir, "base")
	m, err := model.Open(base, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	embed := tensorBytes(t, base, "model.embed_tokens.weight")
	E := make([]float32, len(embed)/4)
	tensor.Decode(E, embed, tensor.F32)
	const H = 16
	for _, mode := range []string{"hidden", "hidden_avg"} {
		t.Run(mode, func(t *testing.T) {
			yml := `base_model: base
gate_mode: ` + mode + `
dtype: float32
experts:
  - source_model: ft1
    positive_prompts: ["code", "a longer prompt"]
  - source_model: ft2
    positive_prompts: ["math"]
    negative_prompts: ["poem"]
`
			out, pl := build(t, dir, yml, PlanOptions{}, Options{})
			for l := 0; l < 2; l++ {
				raw := tensorBytes(t, out, fmt.Sprintf("model.layers.%d.block_sparse_moe.gate.weight", l))
				got := make([]float32, len(raw)/4)
				tensor.Decode(got, raw, tensor.F32)
				// state returns the layer-l state of a prompt list.
				state := func(prompts []string) []float64 {
					longest := 0
					for _, p := range prompts {
						longest = max(longest, len(p)+1)
					}
					v := make([]float64, H)
					for _, p := range prompts {
						ids := append([]int{1}, bytesOf(p)...)
						var rows [][]float32
						if l == 0 {
							for _, id := range ids {
								rows = append(rows, E[id*H:(id+1)*H])
							}
						} else {
							hs, err := m.HiddenStates(ids)
							if err != nil {
								t.Fatal(err)
							}
							for i := range ids {
								rows = append(rows, hs[l][i*H:(i+1)*H])
							}
						}
						if mode == "hidden" {
							rows = rows[len(rows)-1:]
						} else {
							pad := E[1*H : 2*H]
							if l > 0 {
								hs, _ := m.HiddenStates([]int{1})
								pad = hs[l][:H]
							}
							for len(rows) < longest {
								rows = append(rows, pad)
							}
						}
						for _, r := range rows {
							for i, x := range r {
								v[i] += float64(x) / float64(len(rows)) / float64(len(prompts))
							}
						}
					}
					return v
				}
				for j, e := range pl.Config.Experts {
					want := state(e.PositivePrompts)
					if len(e.NegativePrompts) > 0 {
						neg := state(e.NegativePrompts)
						for i := range want {
							want[i] -= neg[i]
						}
					}
					normalize(want)
					for i := range want {
						if d := math.Abs(float64(got[j*H+i]) - want[i]); d > 1e-5 {
							t.Fatalf("layer %d expert %d [%d]: %v, want %v", l, j, i, got[j*H+i], want[i])
						}
					}
				}
			}
		})
	}
}

// TestNoiseScale checks that noise_scale perturbs every MLP tensor of its
// expert by about that standard deviation, the same for any thread count,
// and leaves the other experts alone.
func TestNoiseScale(t *testing.T) {
	dir := models(t, tensor.F32)
	yml := "base_model: base\ngate_mode: random\nexperts:\n  - source_model: ft1\n    noise_scale: 0.05\n  - source_model: ft2\n"
	a, _ := build(t, dir, yml, PlanOptions{}, Options{Seed: 5, Threads: 1})
	b, _ := build(t, dir, yml, PlanOptions{}, Options{Seed: 5, Threads: 6})
	da, _ := readAll(t, a)
	db, _ := readAll(t, b)
	for n := range da {
		if !bytes.Equal(da[n], db[n]) {
			t.Errorf("%s differs between -j 1 and -j 6", n)
		}
	}
	for _, w := range []string{"w1", "w2", "w3"} {
		src := tensorBytes(t, filepath.Join(dir, "ft1"), "model.layers.1.mlp."+map[string]string{"w1": "gate_proj", "w2": "down_proj", "w3": "up_proj"}[w]+".weight")
		got := da["model.layers.1.block_sparse_moe.experts.0."+w+".weight"]
		x, y := make([]float32, len(src)/4), make([]float32, len(got)/4)
		tensor.Decode(x, src, tensor.F32)
		tensor.Decode(y, got, tensor.F32)
		var ss float64
		for i := range x {
			d := float64(y[i] - x[i])
			ss += d * d
		}
		if std := math.Sqrt(ss / float64(len(x))); std < 0.04 || std > 0.06 {
			t.Errorf("%s: noise std %.4f, want about 0.05", w, std)
		}
	}
	if !bytes.Equal(da["model.layers.0.block_sparse_moe.experts.1.w1.weight"], tensorBytes(t, filepath.Join(dir, "ft2"), "model.layers.0.mlp.gate_proj.weight")) {
		t.Errorf("expert 1 has no noise_scale but changed")
	}
}

// TestTiedBase checks that a base without lm_head gives an output without
// one that still ties its embeddings.
func TestTiedBase(t *testing.T) {
	dir := t.TempDir()
	testmodel.Must(t.Fatal, filepath.Join(dir, "base"), small(testmodel.Spec{Seed: 1, Tied: true}))
	testmodel.Must(t.Fatal, filepath.Join(dir, "ft1"), small(testmodel.Spec{Seed: 1, Tied: true, Delta: 0.01, DeltaSeed: 2}))
	out, _ := build(t, dir, "base_model: base\ngate_mode: random\nexperts:\n  - source_model: ft1\n  - source_model: base\n", PlanOptions{}, Options{})
	data, _ := readAll(t, out)
	if _, ok := data["lm_head.weight"]; ok {
		t.Errorf("output has lm_head.weight")
	}
	if cfg := readConfig(t, out); cfg["tie_word_embeddings"] != true {
		t.Errorf("tie_word_embeddings %v", cfg["tie_word_embeddings"])
	}
}

// TestCheapEmbedTokenizer checks that prompts go through the base's
// tokenizer.json with its BOS (from tokenizer_config.json) put first.
func TestCheapEmbedTokenizer(t *testing.T) {
	dir := models(t, tensor.F32)
	base := filepath.Join(dir, "base")
	tok := `{"version":"1.0","added_tokens":[{"id":7,"content":"<bos>","special":true}],
"model":{"type":"BPE","vocab":{"<unk>":0,"a":4,"b":5,"<bos>":7},"merges":[]}}`
	os.WriteFile(filepath.Join(base, "tokenizer.json"), []byte(tok), 0o644)
	os.WriteFile(filepath.Join(base, "tokenizer_config.json"), []byte(`{"bos_token":"<bos>"}`), 0o644)
	yml := "base_model: base\ngate_mode: cheap_embed\nexperts:\n  - source_model: ft1\n    positive_prompts: [ab]\n  - source_model: ft2\n    positive_prompts: [b, bb]\n"
	out, _ := build(t, dir, yml, PlanOptions{}, Options{})
	embed := tensorBytes(t, base, "model.embed_tokens.weight")
	E := make([]float32, len(embed)/4)
	tensor.Decode(E, embed, tensor.F32)
	const H = 16
	got := tensorBytes(t, out, "model.layers.0.block_sparse_moe.gate.weight")
	g := make([]float32, len(got)/4)
	tensor.Decode(g, got, tensor.F32)
	for j, ids := range [][]int{{7, 4, 5}, {7, 5, 7, 5, 5}} {
		want := make([]float64, H)
		for _, id := range ids {
			for i := range want {
				want[i] += float64(E[id*H+i])
			}
		}
		normalize(want)
		for i := range want {
			if math.Abs(float64(g[j*H+i])-want[i]) > 1e-6 {
				t.Fatalf("expert %d: row %v, want the embeddings of %v", j, g[j*H:(j+1)*H], ids)
			}
		}
	}
}

// TestNewPlanBuiltConfig checks that a Config made in code, without
// ParseConfig's checks, is refused rather than crashing.
func TestNewPlanBuiltConfig(t *testing.T) {
	for _, cfg := range []*Config{{GateMode: CheapEmbed, ExpertsPerToken: 2}, {GateMode: Random, Experts: []Expert{{}}, ExpertsPerToken: 0}} {
		if _, err := NewPlan(context.Background(), cfg, PlanOptions{}); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

// TestConfigKeepsBaseFields checks that fields mergekit's config classes
// drop (rope_scaling from a Llama base, mergekit issue #88) are kept.
func TestConfigKeepsBaseFields(t *testing.T) {
	dir := models(t, tensor.F32)
	p := filepath.Join(dir, "base", "config.json")
	var cfg map[string]any
	raw, _ := os.ReadFile(p)
	json.Unmarshal(raw, &cfg)
	cfg["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0}
	cfg["custom_field"] = "kept"
	raw, _ = json.Marshal(cfg)
	os.WriteFile(p, raw, 0o644)
	out, _ := build(t, dir, threeExperts, PlanOptions{}, Options{})
	got := readConfig(t, out)
	if rs, _ := got["rope_scaling"].(map[string]any); rs["rope_type"] != "llama3" || rs["factor"] != 8.0 || got["custom_field"] != "kept" {
		t.Errorf("rope_scaling %v custom_field %v, want the base's", got["rope_scaling"], got["custom_field"])
	}
}
