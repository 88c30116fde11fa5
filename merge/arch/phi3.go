package arch

func init() {
	// Phi-3 fuses q, k and v into qkv_proj and gate and up into gate_up_proj.
	phi3 := llamaLike("phi3", "phi3", "Phi3ForCausalLM")
	phi3.Layer = layer("model.layers.", "input_layernorm.weight",
		"self_attn.qkv_proj.weight", "self_attn.o_proj.weight",
		"post_attention_layernorm.weight",
		"mlp.gate_up_proj.weight", "mlp.down_proj.weight")
	Register(phi3)
}
