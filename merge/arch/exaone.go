package arch

func init() {
	// EXAONE 3 and 3.5 (remote code): GPT-2 style names around a Llama
	// block; the SwiGLU MLP is c_fc_0 (gate), c_fc_1 (up), c_proj (down).
	// The 2.4B model ties its embeddings.
	Register(&Arch{
		Name:          "exaone",
		Architectures: []string{"ExaoneForCausalLM"},
		ModelType:     "exaone",
		Pre:           []Weight{embed("transformer.wte.weight")},
		Layer: layer("transformer.h.", "ln_1.weight",
			"attn.attention.q_proj.weight", "attn.attention.k_proj.weight",
			"attn.attention.v_proj.weight", "attn.attention.out_proj.weight",
			"ln_2.weight", "mlp.c_fc_0.weight", "mlp.c_fc_1.weight", "mlp.c_proj.weight"),
		Post: []Weight{
			{Name: "transformer.ln_f.weight"},
			tiedHead("lm_head.weight", "transformer.wte.weight"),
		},
	})
}
