package arch

func init() {
	// Falcon. The layer's norms depend on the model: 7B has one
	// input_layernorm shared by the parallel attention and MLP, 40B/180B
	// (new_decoder_architecture) have ln_attn and ln_mlp, the RW models
	// without parallel attention add post_attention_layernorm; the linear
	// biases exist only with bias: true. Older configs count layers in
	// n_layer.
	Register(&Arch{
		Name:             "falcon",
		Architectures:    []string{"FalconForCausalLM"},
		ModelType:        "falcon",
		NumLayersKey:     "num_hidden_layers",
		NumLayersAliases: []string{"n_layer"},
		Pre:              []Weight{embed("transformer.word_embeddings.weight")},
		Layer: concat(
			layer("transformer.h.",
				"self_attention.query_key_value.weight", "self_attention.dense.weight",
				"mlp.dense_h_to_4h.weight", "mlp.dense_4h_to_h.weight"),
			optional(layer("transformer.h.",
				"input_layernorm.weight", "input_layernorm.bias",
				"ln_attn.weight", "ln_attn.bias", "ln_mlp.weight", "ln_mlp.bias",
				"post_attention_layernorm.weight", "post_attention_layernorm.bias",
				"self_attention.query_key_value.bias", "self_attention.dense.bias",
				"mlp.dense_h_to_4h.bias", "mlp.dense_4h_to_h.bias"))),
		Post: []Weight{
			{Name: "transformer.ln_f.weight"}, {Name: "transformer.ln_f.bias"},
			tiedHead("lm_head.weight", "transformer.word_embeddings.weight"),
		},
	})
}
