package arch

func init() {
	// Phi-1.5 and Phi-2 as transformers ships them (model_type phi):
	// LayerNorms with biases, a parallel attention/MLP block and an lm_head
	// with a bias. q_layernorm and k_layernorm exist only with
	// qk_layernorm.
	Register(&Arch{
		Name:          "phi",
		Architectures: []string{"PhiForCausalLM"},
		ModelType:     "phi",
		Pre:           []Weight{embed("model.embed_tokens.weight")},
		Layer: concat(
			layer("model.layers.", "input_layernorm.weight", "input_layernorm.bias",
				"self_attn.q_proj.weight", "self_attn.q_proj.bias",
				"self_attn.k_proj.weight", "self_attn.k_proj.bias",
				"self_attn.v_proj.weight", "self_attn.v_proj.bias",
				"self_attn.dense.weight", "self_attn.dense.bias",
				"mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"),
			optional(layer("model.layers.",
				"self_attn.q_layernorm.weight", "self_attn.q_layernorm.bias",
				"self_attn.k_layernorm.weight", "self_attn.k_layernorm.bias"))),
		Post: []Weight{
			{Name: "model.final_layernorm.weight"}, {Name: "model.final_layernorm.bias"},
			embed("lm_head.weight"), {Name: "lm_head.bias"},
		},
	})

	// The same models in Microsoft's earlier remote-code layout
	// (model_type phi-msft), whose config counts layers in n_layer.
	Register(&Arch{
		Name:             "phi-msft",
		Architectures:    []string{"PhiForCausalLM"},
		ModelType:        "phi-msft",
		NumLayersKey:     "n_layer",
		NumLayersAliases: []string{"num_hidden_layers"},
		Pre:              []Weight{embed("transformer.embd.wte.weight")},
		Layer: layer("transformer.h.", "ln.weight", "ln.bias",
			"mixer.Wqkv.weight", "mixer.Wqkv.bias",
			"mixer.out_proj.weight", "mixer.out_proj.bias",
			"mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"),
		Post: []Weight{
			{Name: "lm_head.ln.weight"}, {Name: "lm_head.ln.bias"},
			embed("lm_head.linear.weight"), {Name: "lm_head.linear.bias"},
		},
	})
}
