package arch

import "strings"

// bareAliases gives every weight whose name starts with prefix an alias
// without it, rendered with the layer index like the name.
func bareAliases(prefix string, ws []Weight) []Weight {
	for i, w := range ws {
		if bare, ok := strings.CutPrefix(w.Name, prefix); ok {
			ws[i].Aliases = append(ws[i].Aliases, bare)
		}
	}
	return ws
}

func init() {
	// GPT-2. Checkpoints saved from the bare GPT2Model (and some
	// conversions) lack the "transformer." prefix: every weight has the
	// unprefixed name as an alias, and outputs always use the prefixed one.
	// The lm_head is tied to wte and usually not stored.
	Register(&Arch{
		Name:             "gpt2",
		Architectures:    []string{"GPT2LMHeadModel"},
		ModelType:        "gpt2",
		NumLayersKey:     "n_layer",
		NumLayersAliases: []string{"num_hidden_layers"},
		Pre: bareAliases("transformer.", []Weight{
			embed("transformer.wte.weight"), {Name: "transformer.wpe.weight"}}),
		Layer: bareAliases("transformer.", layer("transformer.h.",
			"ln_1.weight", "ln_1.bias",
			"attn.c_attn.weight", "attn.c_attn.bias",
			"attn.c_proj.weight", "attn.c_proj.bias",
			"ln_2.weight", "ln_2.bias",
			"mlp.c_fc.weight", "mlp.c_fc.bias",
			"mlp.c_proj.weight", "mlp.c_proj.bias")),
		Post: append(bareAliases("transformer.", []Weight{
			{Name: "transformer.ln_f.weight"}, {Name: "transformer.ln_f.bias"}}),
			Weight{Name: "lm_head.weight", IsEmbed: true, Optional: true,
				TiedNames: []string{"transformer.wte.weight", "wte.weight"}}),
	})
}
