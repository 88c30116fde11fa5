package arch

func init() {
	// StableLM 3B-4E1T and StableLM 2 (1.6B): the Llama layout with
	// LayerNorms that carry biases, and q/k/v biases where use_qkv_bias is
	// set. StableLM 2 12B's per-head q/k norms and parallel residual are
	// not covered.
	for _, v := range []struct{ name, architecture string }{
		{"stablelm_epoch", "StableLMEpochForCausalLM"},
		{"stablelm", "StableLmForCausalLM"},
	} {
		a := llamaLike(v.name, v.name, v.architecture)
		a.Layer = concat(
			layer("model.layers.", "input_layernorm.weight", "input_layernorm.bias",
				"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
				"self_attn.o_proj.weight",
				"post_attention_layernorm.weight", "post_attention_layernorm.bias",
				"mlp.up_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight"),
			optional(layer("model.layers.",
				"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias")))
		a.Post = []Weight{
			{Name: "model.norm.weight"}, {Name: "model.norm.bias"},
			embed("lm_head.weight"),
		}
		Register(a)
	}
}
