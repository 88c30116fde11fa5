package arch

func init() {
	// Granite 3: the Llama layout; attention_bias and mlp_bias add biases
	// to the projections.
	granite := llamaLike("granite", "granite", "GraniteForCausalLM")
	granite.Layer = concat(layer("model.layers.", llamaLayer...),
		optional(layer("model.layers.",
			"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias",
			"self_attn.o_proj.bias",
			"mlp.up_proj.bias", "mlp.gate_proj.bias", "mlp.down_proj.bias")))
	Register(granite)
}
