package arch

// llamaLayer is the decoder layer shared by Llama, Mistral and relatives.
var llamaLayer = []string{
	"input_layernorm.weight",
	"self_attn.q_proj.weight",
	"self_attn.k_proj.weight",
	"self_attn.v_proj.weight",
	"self_attn.o_proj.weight",
	"post_attention_layernorm.weight",
	"mlp.up_proj.weight",
	"mlp.gate_proj.weight",
	"mlp.down_proj.weight",
}

func llamaLike(name, modelType string, architectures ...string) *Arch {
	return &Arch{
		Name:          name,
		Architectures: architectures,
		ModelType:     modelType,
		Pre:           []Weight{embed("model.embed_tokens.weight")},
		Layer:         layer("model.layers.", llamaLayer...),
		Post: []Weight{
			{Name: "model.norm.weight"},
			tiedHead("lm_head.weight", "model.embed_tokens.weight"),
		},
	}
}

func init() {
	// Llama 1-3.x. Llama 3.2 1B/3B tie the embeddings: lm_head is optional
	// and falls back to embed_tokens.
	Register(llamaLike("llama", "llama", "LlamaForCausalLM", "LLaMaForCausalLM"))
	Register(llamaLike("mistral", "mistral", "MistralForCausalLM"))
}
