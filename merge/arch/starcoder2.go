package arch

func init() {
	// StarCoder2: LayerNorms and every linear layer with a bias, a plain
	// GELU MLP (c_fc, c_proj); the 3B model ties its embeddings.
	starcoder2 := llamaLike("starcoder2", "starcoder2", "Starcoder2ForCausalLM")
	starcoder2.Layer = layer("model.layers.",
		"input_layernorm.weight", "input_layernorm.bias",
		"self_attn.q_proj.weight", "self_attn.q_proj.bias",
		"self_attn.k_proj.weight", "self_attn.k_proj.bias",
		"self_attn.v_proj.weight", "self_attn.v_proj.bias",
		"self_attn.o_proj.weight", "self_attn.o_proj.bias",
		"post_attention_layernorm.weight", "post_attention_layernorm.bias",
		"mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")
	starcoder2.Post = []Weight{
		{Name: "model.norm.weight"}, {Name: "model.norm.bias"},
		tiedHead("lm_head.weight", "model.embed_tokens.weight"),
	}
	Register(starcoder2)
}
