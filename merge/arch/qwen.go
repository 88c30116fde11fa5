package arch

// qwen3Attention is Qwen3's attention block: no biases, RMS norms on
// queries and keys.
var qwen3Attention = []string{
	"input_layernorm.weight",
	"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
	"self_attn.o_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight",
	"post_attention_layernorm.weight",
}

func init() {
	// Qwen (the first generation, remote code): GPT-2 style names, one
	// fused qkv projection with bias and a SwiGLU MLP (w1, w2, c_proj).
	Register(&Arch{
		Name:          "qwen",
		Architectures: []string{"QWenLMHeadModel"},
		ModelType:     "qwen",
		Pre:           []Weight{embed("transformer.wte.weight")},
		Layer: layer("transformer.h.", "ln_1.weight",
			"attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
			"ln_2.weight", "mlp.w1.weight", "mlp.w2.weight", "mlp.c_proj.weight"),
		Post: []Weight{{Name: "transformer.ln_f.weight"}, embed("lm_head.weight")},
	})

	// Qwen2 and Qwen2.5: Llama layout plus biases on q, k and v.
	qwen2 := llamaLike("qwen2", "qwen2", "Qwen2ForCausalLM")
	qwen2.Layer = layer("model.layers.", "input_layernorm.weight",
		"self_attn.q_proj.weight", "self_attn.q_proj.bias",
		"self_attn.k_proj.weight", "self_attn.k_proj.bias",
		"self_attn.v_proj.weight", "self_attn.v_proj.bias",
		"self_attn.o_proj.weight",
		"post_attention_layernorm.weight",
		"mlp.up_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight")
	Register(qwen2)

	qwen3 := llamaLike("qwen3", "qwen3", "Qwen3ForCausalLM")
	qwen3.Layer = concat(layer("model.layers.", qwen3Attention...),
		layer("model.layers.", "mlp.up_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight"))
	Register(qwen3)

	// Qwen3-MoE: Qwen3 attention and a sparse MLP in every layer (the
	// released models use no dense layers, mlp_only_layers is empty).
	qwen3moe := llamaLike("qwen3_moe", "qwen3_moe", "Qwen3MoeForCausalLM")
	qwen3moe.Layer = concat(layer("model.layers.", qwen3Attention...), fusedExperts())
	Register(qwen3moe)
}
