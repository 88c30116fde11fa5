package arch

// fusedExperts is a sparse MLP in the transformers v5 layout: the router
// and every expert's projections stacked into two tensors, gate_up_proj
// [E, 2I, H] (each expert's gate rows, then its up rows) and down_proj
// [E, H, I]. Per-expert checkpoints (w1/w2/w3, gate/up/down_proj) need a
// conversion on load; routerAliases are the older names of the router,
// which only moved.
func fusedExperts(routerAliases ...string) []Weight {
	router := Weight{Name: "model.layers." + LayerIndex + ".mlp.gate.weight", Aliases: routerAliases}
	experts := layer("model.layers.", "mlp.experts.gate_up_proj", "mlp.experts.down_proj")
	p := "model.layers." + LayerIndex + "."
	e := ExpertIndex
	experts[0].Pieces = [][]string{
		{p + "block_sparse_moe.experts." + e + ".w1.weight", p + "block_sparse_moe.experts." + e + ".w3.weight"},
		{p + "mlp.experts." + e + ".w1.weight", p + "mlp.experts." + e + ".w3.weight"},
		{p + "mlp.experts." + e + ".gate_proj.weight", p + "mlp.experts." + e + ".up_proj.weight"},
	}
	experts[1].Pieces = [][]string{
		{p + "block_sparse_moe.experts." + e + ".w2.weight"},
		{p + "mlp.experts." + e + ".w2.weight"},
		{p + "mlp.experts." + e + ".down_proj.weight"},
	}
	return append([]Weight{router}, experts...)
}

func init() {
	// Mixtral: Mistral attention, then the sparse MLP that transformers v4
	// called block_sparse_moe.
	mixtral := llamaLike("mixtral", "mixtral", "MixtralForCausalLM")
	mixtral.Layer = concat(
		layer("model.layers.", "input_layernorm.weight",
			"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
			"self_attn.o_proj.weight", "post_attention_layernorm.weight"),
		fusedExperts("model.layers."+LayerIndex+".block_sparse_moe.gate.weight"))
	Register(mixtral)
}
