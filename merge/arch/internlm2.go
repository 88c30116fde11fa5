package arch

func init() {
	// InternLM2 (remote code): fused wqkv, SwiGLU as w1 (gate), w3 (up), w2
	// (down), and the output layer named "output".
	Register(&Arch{
		Name:          "internlm2",
		Architectures: []string{"InternLM2ForCausalLM"},
		ModelType:     "internlm2",
		Pre:           []Weight{embed("model.tok_embeddings.weight")},
		Layer: layer("model.layers.", "attention_norm.weight",
			"attention.wqkv.weight", "attention.wo.weight",
			"ffn_norm.weight",
			"feed_forward.w1.weight", "feed_forward.w3.weight", "feed_forward.w2.weight"),
		Post: []Weight{
			{Name: "model.norm.weight"},
			tiedHead("output.weight", "model.tok_embeddings.weight"),
		},
	})
}
