package arch

func init() {
	// OLMo 2 normalises after each block instead of before, and applies RMS
	// norms to the full query and key projections.
	olmo2 := llamaLike("olmo2", "olmo2", "Olmo2ForCausalLM")
	olmo2.Layer = layer("model.layers.",
		"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
		"self_attn.o_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight",
		"post_attention_layernorm.weight",
		"mlp.up_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight",
		"post_feedforward_layernorm.weight")
	Register(olmo2)
}
