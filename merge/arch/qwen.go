package arch

func init() {
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

	// Qwen3: no qkv biases, RMS norms on queries and keys.
	qwen3 := llamaLike("qwen3", "qwen3", "Qwen3ForCausalLM")
	qwen3.Layer = layer("model.layers.", "input_layernorm.weight",
		"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
		"self_attn.o_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight",
		"post_attention_layernorm.weight",
		"mlp.up_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight")
	Register(qwen3)
}
