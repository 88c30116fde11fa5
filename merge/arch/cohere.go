package arch

// cohereLayer is Command R's parallel block: one norm feeding both the
// attention and the MLP, so there is no post_attention_layernorm.
var cohereLayer = []string{
	"input_layernorm.weight",
	"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
	"self_attn.o_proj.weight",
	"mlp.up_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight",
}

func init() {
	// Command R and R+. Only models with use_qk_norm (R+) have q_norm and
	// k_norm. The embeddings are tied and lm_head is normally absent.
	cohere := llamaLike("cohere", "cohere", "CohereForCausalLM")
	cohere.Layer = concat(layer("model.layers.", cohereLayer...),
		optional(layer("model.layers.", "self_attn.q_norm.weight", "self_attn.k_norm.weight")))
	Register(cohere)

	// Command R7B and Command A: the same layer without q/k norms.
	cohere2 := llamaLike("cohere2", "cohere2", "Cohere2ForCausalLM")
	cohere2.Layer = layer("model.layers.", cohereLayer...)
	Register(cohere2)
}
