package merge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// writePerExpertMixtral writes a one-layer Mixtral checkpoint in the
// transformers v4 layout: experts stored apart as w1/w2/w3.
func writePerExpertMixtral(t *testing.T, dir string, seed float32) map[string][]byte {
	t.Helper()
	const h, inter, experts, vocab = 4, 6, 2, 8
	shapes := map[string][]int64{
		"model.embed_tokens.weight":                      {vocab, h},
		"model.norm.weight":                              {h},
		"lm_head.weight":                                 {vocab, h},
		"model.layers.0.input_layernorm.weight":          {h},
		"model.layers.0.post_attention_layernorm.weight": {h},
		"model.layers.0.self_attn.q_proj.weight":         {h, h},
		"model.layers.0.self_attn.k_proj.weight":         {h, h},
		"model.layers.0.self_attn.v_proj.weight":         {h, h},
		"model.layers.0.self_attn.o_proj.weight":         {h, h},
		"model.layers.0.block_sparse_moe.gate.weight":    {experts, h},
	}
	for e := 0; e < experts; e++ {
		p := fmt.Sprintf("model.layers.0.block_sparse_moe.experts.%d.", e)
		shapes[p+"w1.weight"] = []int64{inter, h}
		shapes[p+"w3.weight"] = []int64{inter, h}
		shapes[p+"w2.weight"] = []int64{h, inter}
	}
	var specs []safetensors.TensorSpec
	for name, shape := range shapes {
		specs = append(specs, safetensors.TensorSpec{Name: name, DType: safetensors.F32, Shape: shape})
	}
	os.MkdirAll(dir, 0o755)
	w, err := safetensors.Create(dir, specs, safetensors.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{}
	for i, s := range specs {
		n := int(numElements(s.Shape))
		v := make([]float32, n)
		for j := range v {
			v[j] = seed + float32(i*100+j)
		}
		b := make([]byte, 4*n)
		tensor.Encode(b, v, tensor.F32)
		data[s.Name] = b
		if err := w.WriteTensor(s.Name, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"architectures": []string{"MixtralForCausalLM"}, "model_type": "mixtral",
		"num_hidden_layers": 1, "num_local_experts": experts, "hidden_size": h, "vocab_size": vocab})
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	return data
}

func TestPerExpertMixtralIsFused(t *testing.T) {
	dir := t.TempDir()
	data := writePerExpertMixtral(t, filepath.Join(dir, "moe"), 0)
	out := filepath.Join(t.TempDir(), "out")
	if _, err := runYAML(t, dir, "merge_method: passthrough\nmodels: [{model: moe}]\n", out, Options{}); err != nil {
		t.Fatal(err)
	}
	m, err := safetensors.OpenModel(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := func(i int, w string) []byte {
		return data[fmt.Sprintf("model.layers.0.block_sparse_moe.experts.%d.%s.weight", i, w)]
	}
	for name, want := range map[string][]byte{
		"model.layers.0.mlp.experts.gate_up_proj": bytes.Join([][]byte{e(0, "w1"), e(0, "w3"), e(1, "w1"), e(1, "w3")}, nil),
		"model.layers.0.mlp.experts.down_proj":    bytes.Join([][]byte{e(0, "w2"), e(1, "w2")}, nil),
		"model.layers.0.mlp.gate.weight":          data["model.layers.0.block_sparse_moe.gate.weight"],
	} {
		info, ok := m.Tensor(name)
		if !ok {
			t.Fatalf("no %s in %v", name, m.Names())
		}
		got := make([]byte, info.Size)
		m.ReadTensor(name, got)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the concatenated experts", name)
		}
	}
	if info, _ := m.Tensor("model.layers.0.mlp.experts.gate_up_proj"); fmt.Sprint(info.Shape) != "[2 12 4]" {
		t.Errorf("gate_up_proj shape %v, want [2 12 4]", info.Shape)
	}
	// A linear merge of two per-expert checkpoints works on the fused tensors.
	writePerExpertMixtral(t, filepath.Join(dir, "moe2"), 1)
	if _, err := runYAML(t, dir, "merge_method: linear\nparameters: {weight: 0.5}\nmodels: [{model: moe}, {model: moe2}]\n", filepath.Join(t.TempDir(), "o2"), Options{}); err != nil {
		t.Fatal(err)
	}
	// ties goes over its inputs twice (analysis, merge): the fused tensors
	// read again from their parts on every pass give the bytes of held
	// copies, in pieces that cut across experts.
	defer func(n int64, a inputAccess) { chunkElements, heldAccess = n, a }(chunkElements, heldAccess)
	chunkElements = 10
	var outs []string
	for _, a := range []inputAccess{accessReread, accessCopy} {
		heldAccess = a
		o := filepath.Join(t.TempDir(), a.String())
		yml := "merge_method: ties\nbase_model: moe\nmodels: [{model: moe2, parameters: {weight: 0.7, density: 0.5}}]\n"
		if _, err := runYAML(t, dir, yml, o, Options{Threads: 2, Seed: new(uint64(3))}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		outs = append(outs, o)
	}
	sameTensors(t, outs[0], outs[1])
}
