package arch

// gemma2Layer is Gemma 2's decoder layer: a norm before and after both the
// attention and the feed-forward block.
var gemma2Layer = []string{
	"input_layernorm.weight",
	"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
	"self_attn.o_proj.weight", "post_attention_layernorm.weight",
	"pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight",
	"mlp.up_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight",
}

func init() {
	// Gemma ties its output layer to the input embeddings and stores no
	// lm_head; writing one would contradict tie_word_embeddings.
	gemma := llamaLike("gemma", "gemma", "GemmaForCausalLM")
	gemma.Post = []Weight{{Name: "model.norm.weight"}}
	Register(gemma)

	gemma2 := llamaLike("gemma2", "gemma2", "Gemma2ForCausalLM")
	gemma2.Layer = layer("model.layers.", gemma2Layer...)
	gemma2.Post = []Weight{{Name: "model.norm.weight"}}
	Register(gemma2)

	// Gemma 3 text-only models (1B, and the text decoder saved alone):
	// Gemma 2's layer plus RMS norms on queries and keys. The lm_head is
	// tied and normally absent; the optional entry only carries one that a
	// checkpoint does store.
	gemma3 := llamaLike("gemma3_text", "gemma3_text", "Gemma3ForCausalLM")
	gemma3.Layer = layer("model.layers.", append([]string{
		"self_attn.q_norm.weight", "self_attn.k_norm.weight"}, gemma2Layer...)...)
	Register(gemma3)
}
