// Package testmodel writes small deterministic Hugging Face model
// directories (config.json + safetensors) for tests, examples and
// benchmarks. The same Spec always gives the same bytes.
package testmodel

import (
	"encoding/json"

	"fmt"
	"github.com/gomerge/gomerge/merge/arch"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// Spec describes a Llama-shaped model.
type Spec struct {
	Arch         string // config "architectures" entry; default LlamaForCausalLM
	ModelType    string // default llama
	Hidden       int    // default 64
	Intermediate int    // default 128
	Layers       int    // default 4
	Heads        int    // default 4
	KVHeads      int    // default 2
	Vocab        int    // default 256
	DType        tensor.DType
	// Tied omits lm_head.weight and sets tie_word_embeddings.
	Tied bool
	// ShardSize splits the weights into shards of at most this many bytes.
	ShardSize int64
	// Seed selects the weights; models with the same Seed are equal, and
	// Delta > 0 makes a "fine-tune" of the Seed model with noise of that
	// size drawn from DeltaSeed.
	Seed      uint64
	Delta     float64
	DeltaSeed uint64
	// Extra adds tensors (name → shape), filled like the others.
	Extra map[string][]int64
}

func (s *Spec) defaults() {
	set := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	set(&s.Hidden, 64)
	set(&s.Intermediate, 128)
	set(&s.Layers, 4)
	set(&s.Heads, 4)
	set(&s.KVHeads, 2)
	set(&s.Vocab, 256)
	if s.Arch == "" {
		s.Arch = "LlamaForCausalLM"
	}
	if s.ModelType == "" {
		s.ModelType = "llama"
	}
	if s.DType == tensor.Invalid {
		s.DType = tensor.F32
	}
}

// Tensors returns the model's tensor names and shapes in file order.
// Llama models get their real shapes; other architectures get every tensor
// of gomerge's table for them, with embeddings [vocab, hidden], norms and
// biases [hidden] and other matrices [hidden, hidden].
func (s Spec) Tensors() []safetensors.TensorSpec {
	s.defaults()
	if s.Arch != "LlamaForCausalLM" {
		if a, ok := arch.Lookup(s.Arch, s.ModelType); ok {
			return s.archTensors(a)
		}
	}
	h, m, v := int64(s.Hidden), int64(s.Intermediate), int64(s.Vocab)
	kv := h / int64(s.Heads) * int64(s.KVHeads)
	dt := safetensors.DType(s.DType.String())
	var out []safetensors.TensorSpec
	add := func(name string, shape ...int64) {
		out = append(out, safetensors.TensorSpec{Name: name, DType: dt, Shape: shape})
	}
	add("model.embed_tokens.weight", v, h)
	for i := 0; i < s.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", h)
		add(p+"self_attn.q_proj.weight", h, h)
		add(p+"self_attn.k_proj.weight", kv, h)
		add(p+"self_attn.v_proj.weight", kv, h)
		add(p+"self_attn.o_proj.weight", h, h)
		add(p+"post_attention_layernorm.weight", h)
		add(p+"mlp.gate_proj.weight", m, h)
		add(p+"mlp.up_proj.weight", m, h)
		add(p+"mlp.down_proj.weight", h, m)
	}
	add("model.norm.weight", h)
	if !s.Tied {
		add("lm_head.weight", v, h)
	}
	for name, shape := range s.Extra {
		add(name, shape...)
	}
	return out
}

// Values returns the float32 values of one tensor.
func (s Spec) Values(name string, n int) []float32 {
	out := make([]float32, n)
	fill(out, s.Seed, name, 0.02, strings.HasSuffix(name, "norm.weight"))
	if s.Delta > 0 {
		d := make([]float32, n)
		fill(d, s.DeltaSeed, name, s.Delta, false)
		for i := range out {
			out[i] += d[i]
		}
	}
	return out
}

func fill(out []float32, seed uint64, name string, std float64, norm bool) {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	r := rand.New(rand.NewPCG(seed, h))
	for i := range out {
		v := r.NormFloat64() * std
		if norm {
			v = 1 + v
		}
		out[i] = float32(v)
	}
}

// Write writes the model into dir (created if needed).
func Write(dir string, s Spec) error {
	s.defaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := map[string]any{
		"architectures":           []string{s.Arch},
		"model_type":              s.ModelType,
		"hidden_size":             s.Hidden,
		"intermediate_size":       s.Intermediate,
		"num_hidden_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.KVHeads,
		"vocab_size":              s.Vocab,
		"tie_word_embeddings":     s.Tied,
		"hidden_act":              "silu",
		"max_position_embeddings": 128,
		"rms_norm_eps":            1e-5,
		"rope_theta":              10000.0,
		"bos_token_id":            1,
		"eos_token_id":            2,
		"torch_dtype":             s.DType.TorchName(),
	}
	if _, ok := arch.Lookup(s.Arch, s.ModelType); ok && s.Arch != "LlamaForCausalLM" {
		// archTensors makes every matrix [hidden, hidden]: say so.
		cfg["intermediate_size"], cfg["num_key_value_heads"] = s.Hidden, s.Heads
	}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	specs := s.Tensors()
	w, err := safetensors.Create(dir, specs, safetensors.WriterOptions{MaxShardSize: s.ShardSize})
	if err != nil {
		return err
	}
	for _, t := range specs {
		n := 1
		for _, d := range t.Shape {
			n *= int(d)
		}
		vals := s.Values(t.Name, n)
		buf := make([]byte, n*s.DType.Size())
		if err := tensor.Encode(buf, vals, s.DType); err != nil {
			w.Abort()
			return err
		}
		if err := w.WriteTensor(t.Name, buf); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

// Must is Write for tests: it calls fail on error.
func Must(fail func(args ...any), dir string, s Spec) string {
	if err := Write(dir, s); err != nil {
		fail(err)
	}
	return dir
}

func (s Spec) archTensors(a *arch.Arch) []safetensors.TensorSpec {
	h, v := int64(s.Hidden), int64(s.Vocab)
	dt := safetensors.DType(s.DType.String())
	var out []safetensors.TensorSpec
	add := func(w arch.Weight) {
		shape := []int64{h, h}
		switch {
		case w.IsEmbed:
			if s.Tied && len(w.TiedNames) > 0 {
				return
			}
			shape = []int64{v, h}
		case strings.Contains(w.Name, "norm") || strings.HasSuffix(w.Name, ".bias"):
			shape = []int64{h}
		}
		out = append(out, safetensors.TensorSpec{Name: w.Name, DType: dt, Shape: shape})
	}
	for _, w := range a.Pre {
		add(w)
	}
	for i := 0; i < s.Layers; i++ {
		for _, w := range a.LayerWeights(i) {
			add(w)
		}
	}
	for _, w := range a.Post {
		add(w)
	}
	return out
}
