package arch

func init() {
	// Baichuan and Baichuan 2 (remote code): the Llama layout with q, k and
	// v packed into W_pack. Baichuan-7B's config spells the class
	// BaiChuanForCausalLM.
	baichuan := llamaLike("baichuan", "baichuan", "BaichuanForCausalLM", "BaiChuanForCausalLM")
	baichuan.Layer = layer("model.layers.", "input_layernorm.weight",
		"self_attn.W_pack.weight", "self_attn.o_proj.weight",
		"post_attention_layernorm.weight",
		"mlp.up_proj.weight", "mlp.gate_proj.weight", "mlp.down_proj.weight")
	baichuan.Post = []Weight{{Name: "model.norm.weight"}, embed("lm_head.weight")}
	Register(baichuan)
}
