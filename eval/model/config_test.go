package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// refConfig returns a reference model's config.json, edited by edit.
func refConfig(t testing.TB, name string, edit func(map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(refDir, "models", name, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return data
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseConfigFamilies(t *testing.T) {
	for _, c := range []struct {
		name     string
		edit     func(map[string]any)
		family   string
		sliding  []bool
		headDim  int
		scaling  float64
		attnCap  float64
		finalCap float64
		tied     bool
	}{
		{name: "llama", family: "llama", sliding: []bool{false, false}, headDim: 16, scaling: 0.25},
		{name: "mistral", family: "mistral", sliding: []bool{false, false}, headDim: 16, scaling: 0.25},
		{name: "mistral", edit: func(m map[string]any) { m["sliding_window"] = 8 }, family: "mistral",
			sliding: []bool{true, true}, headDim: 16, scaling: 0.25},
		{name: "qwen2", family: "qwen2", sliding: []bool{false, false}, headDim: 16, scaling: 0.25, tied: true},
		{name: "qwen3", family: "qwen3", sliding: []bool{false, false}, headDim: 32, scaling: 1 / math.Sqrt(32), tied: true},
		{name: "gemma", family: "gemma", sliding: []bool{false, false}, headDim: 32, scaling: 1 / math.Sqrt(32), tied: true},
		{name: "gemma2", family: "gemma2", sliding: []bool{true, false}, headDim: 32, scaling: 1 / math.Sqrt(24),
			attnCap: 1.5, finalCap: 3, tied: true},
		// Without layer_types Gemma2 alternates, starting with a sliding layer,
		// and the soft-capping defaults are 50 and 30.
		{name: "gemma2", edit: func(m map[string]any) {
			delete(m, "layer_types")
			delete(m, "attn_logit_softcapping")
			delete(m, "final_logit_softcapping")
			delete(m, "query_pre_attn_scalar")
		}, family: "gemma2", sliding: []bool{true, false}, headDim: 32, scaling: 1.0 / 16, attnCap: 50, finalCap: 30, tied: true},
		{name: "gemma3", family: "gemma3_text", sliding: []bool{true, false}, headDim: 32, scaling: 1 / math.Sqrt(24), tied: true},
		// Gemma3's default pattern: every sixth layer is global.
		{name: "gemma3", edit: func(m map[string]any) { delete(m, "layer_types"); m["_sliding_window_pattern"] = 2 },
			family: "gemma3_text", sliding: []bool{true, false}, headDim: 32, scaling: 1 / math.Sqrt(24), tied: true},
		{name: "llama", edit: func(m map[string]any) { delete(m, "model_type"); delete(m, "head_dim") },
			family: "llama", sliding: []bool{false, false}, headDim: 16, scaling: 0.25},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseConfig(refConfig(t, c.name, c.edit))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.family != c.family || cfg.headDim != c.headDim || cfg.tied != c.tied ||
				math.Abs(cfg.scaling-c.scaling) > 1e-12 || cfg.attnCap != c.attnCap || cfg.finalCap != c.finalCap {
				t.Errorf("got family %s head_dim %d tied %v scaling %v caps %v/%v", cfg.family, cfg.headDim, cfg.tied,
					cfg.scaling, cfg.attnCap, cfg.finalCap)
			}
			for i, s := range c.sliding {
				if cfg.sliding[i] != s {
					t.Errorf("layer %d: sliding %v, want %v", i, cfg.sliding[i], s)
				}
			}
			if cfg.bos != 1 || len(cfg.eos) != 1 || cfg.eos[0] != 2 {
				t.Errorf("bos %d eos %v", cfg.bos, cfg.eos)
			}
		})
	}
}

func TestRopeInverseFrequencies(t *testing.T) {
	base, err := parseConfig(refConfig(t, "mistral", nil))
	if err != nil {
		t.Fatal(err)
	}
	lin, err := parseConfig(refConfig(t, "mistral", func(m map[string]any) {
		m["rope_parameters"] = map[string]any{"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}
	}))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range base.ropes[0].invFreq {
		if g := lin.ropes[0].invFreq[i]; math.Abs(float64(g)-float64(f)/4) > 1e-7*float64(f) {
			t.Errorf("linear: inv_freq[%d] = %v, want %v/4", i, g, f)
		}
		// 1 / 10000^(2i/16)
		if w := 1 / math.Pow(10000, float64(2*i)/16); math.Abs(float64(f)-w) > 1e-6*w {
			t.Errorf("default: inv_freq[%d] = %v, want %v", i, f, w)
		}
	}
	g3, err := parseConfig(refConfig(t, "gemma3", nil))
	if err != nil {
		t.Fatal(err)
	}
	// Layer 0 slides and uses the local theta 10000, layer 1 the global 1e6.
	if f := g3.ropes[0].invFreq[1]; math.Abs(float64(f)-math.Pow(10000, -2.0/32)) > 1e-6 {
		t.Errorf("gemma3 sliding layer inv_freq[1] = %v", f)
	}
	if f := g3.ropes[1].invFreq[1]; math.Abs(float64(f)-math.Pow(1e6, -2.0/32)) > 1e-6 {
		t.Errorf("gemma3 full layer inv_freq[1] = %v", f)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct {
		what string
		name string
		edit func(map[string]any)
		want string
	}{
		{"yarn", "llama", func(m map[string]any) {
			m["rope_parameters"] = map[string]any{"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0}
		}, `rope type "yarn" is not supported`},
		{"dynamic v4", "llama", func(m map[string]any) {
			delete(m, "rope_parameters")
			m["rope_scaling"] = map[string]any{"type": "dynamic", "factor": 2.0}
		}, `rope type "dynamic" is not supported`},
		{"unknown model", "llama", func(m map[string]any) { m["model_type"] = "gpt2" }, `model_type "gpt2" is not supported`},
		{"no hidden size", "llama", func(m map[string]any) { delete(m, "hidden_size") }, "hidden_size must be a positive integer"},
		{"string heads", "llama", func(m map[string]any) { m["num_attention_heads"] = "4" }, "num_attention_heads: want a number"},
		{"fractional layers", "llama", func(m map[string]any) { m["num_hidden_layers"] = 2.5 }, "num_hidden_layers: want an integer"},
		{"gqa", "llama", func(m map[string]any) { m["num_key_value_heads"] = 3 }, "not a multiple of num_key_value_heads"},
		{"odd head_dim", "llama", func(m map[string]any) { m["head_dim"] = 15 }, "head_dim 15 must be even"},
		{"layer_types length", "gemma2", func(m map[string]any) { m["layer_types"] = []any{"full_attention"} }, "layer_types has 1 entries"},
		{"layer_types value", "gemma2", func(m map[string]any) { m["layer_types"] = []any{"full_attention", "chunked"} }, "layer_types[1]"},
		{"activation", "llama", func(m map[string]any) { m["hidden_act"] = "relu2" }, `activation "relu2"`},
		{"eos", "llama", func(m map[string]any) { m["eos_token_id"] = []any{2, "x"} }, "eos_token_id: bad token id"},
		{"partial rotary", "llama", func(m map[string]any) { m["partial_rotary_factor"] = 0.5 }, "partial_rotary_factor"},
		{"negative eps", "llama", func(m map[string]any) { m["rms_norm_eps"] = -1 }, "rms_norm_eps -1 must not be negative"},
		{"infinite eps", "llama", func(m map[string]any) { m["rms_norm_eps"] = json.Number("1e999") }, "rms_norm_eps: bad number 1e999"},
		{"heads do not divide hidden", "llama", func(m map[string]any) {
			delete(m, "head_dim")
			m["num_attention_heads"], m["num_key_value_heads"] = 6, 2
		}, "hidden_size 64 is not a multiple of num_attention_heads 6"},
		{"bos outside the vocabulary", "llama", func(m map[string]any) { m["bos_token_id"] = 320 }, "token id 320 (bos_token_id or eos_token_id) is outside vocab_size 320"},
		{"eos outside the vocabulary", "llama", func(m map[string]any) { m["eos_token_id"] = []any{2, 1000} }, "token id 1000"},
		{"zero rope theta", "llama", func(m map[string]any) { m["rope_parameters"].(map[string]any)["rope_theta"] = 0 }, "rope_theta must be positive"},
		{"query_pre_attn_scalar", "gemma2", func(m map[string]any) { m["query_pre_attn_scalar"] = -4 }, "query_pre_attn_scalar -4 must be positive"},
		{"llama3 factors", "llama", func(m map[string]any) {
			m["rope_parameters"].(map[string]any)["high_freq_factor"] = 0.5
		}, "llama3 rope scaling needs"},
	} {
		t.Run(c.what, func(t *testing.T) {
			_, err := parseConfig(refConfig(t, c.name, c.edit))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), "config.json: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want config.json: ...%s...", err, c.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := filepath.Join(refDir, "models", "llama")
	for _, c := range []struct {
		what string
		edit func(map[string]any)
		want string
	}{
		{"shape", func(m map[string]any) { m["intermediate_size"] = 100 }, "model.layers.0.mlp.gate_proj.weight has shape [96 64], config.json implies [100 64]"},
		{"bias", func(m map[string]any) { m["attention_bias"] = true }, "tensor model.layers.0.self_attn.q_proj.bias is missing"},
		{"fewer layers than stored", func(m map[string]any) { m["num_hidden_layers"] = 1 }, "is in layer 1, but config.json has num_hidden_layers 1"},
		{"more layers than stored", func(m map[string]any) { m["num_hidden_layers"] = 3 }, "tensor model.layers.2.input_layernorm.weight is missing"},
		{"head width", func(m map[string]any) { m["num_attention_heads"], m["num_key_value_heads"] = 8, 4 }, "model.layers.0.self_attn.q_proj.weight has shape [64 64], config.json implies [128 64]"},
		{"vocabulary", func(m map[string]any) { m["vocab_size"] = 10 }, "model.embed_tokens.weight has shape [320 64], config.json implies [10 64]"},
	} {
		t.Run(c.what, func(t *testing.T) {
			src := copyAs(t, dir, tensor.F32, c.edit)
			_, err := Open(src, Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	m, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][]int{{}, {1, 320}, {-1}} {
		if _, err := m.Logits(ids); !errors.Is(err, ErrToken) {
			t.Errorf("Logits(%v): error %v, want ErrToken", ids, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, name := range families7 {
		data, err := os.ReadFile(filepath.Join(refDir, "models", name, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"model_type":"llama","hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1,"vocab_size":4,"intermediate_size":4,"rope_scaling":{"type":"linear","factor":2}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig(data)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		if len(c.ropes) != c.layers || len(c.sliding) != c.layers || c.heads%c.kvHeads != 0 || c.headDim%2 != 0 {
			t.Fatalf("inconsistent config %+v", c)
		}
		for _, r := range c.ropes {
			if len(r.invFreq) != c.headDim/2 {
				t.Fatalf("rope with %d frequencies for head_dim %d", len(r.invFreq), c.headDim)
			}
		}
	})
}

// withTensors writes a copy of the F32 model in srcDir with extra F32
// tensors and config.json edited by edit.
func withTensors(t *testing.T, srcDir string, extra map[string][]float32, shapes map[string][]int64, edit func(map[string]any)) string {
	t.Helper()
	src, err := safetensors.OpenModel(srcDir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	data := map[string][]byte{}
	var specs []safetensors.TensorSpec
	for _, name := range src.Names() {
		info, _ := src.Tensor(name)
		b := make([]byte, info.Size)
		if err := src.ReadTensor(name, b); err != nil {
			t.Fatal(err)
		}
		data[name] = b
		specs = append(specs, safetensors.TensorSpec{Name: name, DType: info.DType, Shape: info.Shape})
	}
	for name, v := range extra {
		b := make([]byte, 4*len(v))
		if err := tensor.Encode(b, v, tensor.F32); err != nil {
			t.Fatal(err)
		}
		data[name] = b
		specs = append(specs, safetensors.TensorSpec{Name: name, DType: "F32", Shape: shapes[name]})
	}
	dir := t.TempDir()
	w, err := safetensors.Create(dir, specs, safetensors.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for name, b := range data {
		if err := w.WriteTensor(name, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := refConfig(t, filepath.Base(srcDir), edit)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLlamaBiases loads attention_bias and mlp_bias: zero biases leave the
// logits as they are, and a bias on o_proj of the last layer moves them.
func TestLlamaBiases(t *testing.T) {
	srcDir := filepath.Join(refDir, "models", "llama")
	base, err := Open(srcDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := base.cfg
	sizes := map[string]int{"self_attn.q_proj": c.heads * c.headDim, "self_attn.k_proj": c.kvHeads * c.headDim,
		"self_attn.v_proj": c.kvHeads * c.headDim, "self_attn.o_proj": c.hidden,
		"mlp.gate_proj": c.inter, "mlp.up_proj": c.inter, "mlp.down_proj": c.hidden}
	extra, shapes := map[string][]float32{}, map[string][]int64{}
	for l := range c.layers {
		for k, n := range sizes {
			name := fmt.Sprintf("model.layers.%d.%s.bias", l, k)
			extra[name], shapes[name] = make([]float32, n), []int64{int64(n)}
		}
	}
	edit := func(m map[string]any) { m["attention_bias"], m["mlp_bias"] = true, true }
	ids := []int{1, 20, 30, 40, 50, 60}
	want, _ := base.Logits(ids)
	for _, nonzero := range []bool{false, true} {
		if nonzero {
			extra[fmt.Sprintf("model.layers.%d.self_attn.o_proj.bias", c.layers-1)][3] = 0.5
		}
		m, err := Open(withTensors(t, srcDir, extra, shapes, edit), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if m.layers[0].ob == nil || m.layers[0].downB == nil {
			t.Fatal("biases not loaded")
		}
		got, _ := m.Logits(ids)
		if e := relErr(got, want); (e == 0) == nonzero {
			t.Errorf("nonzero bias %v: logits differ by %.3g", nonzero, e)
		}
	}
}

// TestLoadRefusesStrayTensors: a checkpoint whose tensors say more than its
// config.json is another model than the one the forward pass would score.
func TestLoadRefusesStrayTensors(t *testing.T) {
	llama := filepath.Join(refDir, "models", "llama")
	qwen2 := filepath.Join(refDir, "models", "qwen2")
	for _, c := range []struct {
		what string
		dir  string
		make func(t *testing.T) string
		want string
	}{
		{"another family's weights", llama, func(t *testing.T) string {
			return withTensors(t, llama, map[string][]float32{"model.layers.0.self_attn.q_norm.weight": make([]float32, 16)},
				map[string][]int64{"model.layers.0.self_attn.q_norm.weight": {16}}, nil)
		}, "tensor model.layers.0.self_attn.q_norm.weight is not part of the llama model config.json describes"},
		{"a layer past the count", llama, func(t *testing.T) string {
			return withTensors(t, llama, map[string][]float32{"model.layers.2.input_layernorm.weight": make([]float32, 64)},
				map[string][]int64{"model.layers.2.input_layernorm.weight": {64}}, nil)
		}, "tensor model.layers.2.input_layernorm.weight is in layer 2, but config.json has num_hidden_layers 2"},
		{"untied without lm_head", qwen2, func(t *testing.T) string {
			return copyAs(t, qwen2, tensor.F32, func(m map[string]any) { m["tie_word_embeddings"] = false })
		}, "tensor lm_head.weight is missing"},
	} {
		t.Run(c.what, func(t *testing.T) {
			_, err := Open(c.make(t), Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	// Legal: rms_norm_eps 0, and rotary buffers of older checkpoints.
	dir := withTensors(t, llama, map[string][]float32{"model.layers.0.self_attn.rotary_emb.inv_freq": make([]float32, 8)},
		map[string][]int64{"model.layers.0.self_attn.rotary_emb.inv_freq": {8}}, func(m map[string]any) { m["rms_norm_eps"] = 0 })
	if _, err := Open(dir, Options{}); err != nil {
		t.Error(err)
	}
}
