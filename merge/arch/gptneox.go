package arch

func init() {
	// GPT-NeoX and Pythia. Old checkpoints also store the attention mask
	// and rotary buffers (attention.bias, attention.masked_bias,
	// attention.rotary_emb.inv_freq); transformers recomputes them and no
	// longer saves them, so they are left out of the merge.
	Register(&Arch{
		Name:          "gpt_neox",
		Architectures: []string{"GPTNeoXForCausalLM"},
		ModelType:     "gpt_neox",
		Pre:           []Weight{embed("gpt_neox.embed_in.weight")},
		Layer: layer("gpt_neox.layers.",
			"input_layernorm.weight", "input_layernorm.bias",
			"attention.query_key_value.weight", "attention.query_key_value.bias",
			"attention.dense.weight", "attention.dense.bias",
			"post_attention_layernorm.weight", "post_attention_layernorm.bias",
			"mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias",
			"mlp.dense_4h_to_h.weight", "mlp.dense_4h_to_h.bias"),
		Post: []Weight{
			{Name: "gpt_neox.final_layer_norm.weight"}, {Name: "gpt_neox.final_layer_norm.bias"},
			embed("embed_out.weight"),
		},
	})
}
