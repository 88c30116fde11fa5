package arch

func init() {
	// Gemma ties its output layer to the input embeddings and stores no
	// lm_head; writing one would contradict tie_word_embeddings.
	gemma := llamaLike("gemma", "gemma", "GemmaForCausalLM")
	gemma.Post = []Weight{{Name: "model.norm.weight"}}
	Register(gemma)

	// Gemma 2 adds a norm before and after the feed-forward block.
	gemma2 := llamaLike("gemma2", "gemma2", "Gemma2ForCausalLM")
	gemma2.Layer = layer("model.layers.", "input_layernorm.weight",
		"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
		"self_attn.o_proj.weight", "post_attention_layernorm.weight",
		"pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight",
		"mlp.up_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight")
	gemma2.Post = []Weight{{Name: "model.norm.weight"}}
	Register(gemma2)
}
