package moe

import "fmt"

// Qwen3 MoE: Qwen3 inputs, no shared experts. Legacy layout:
// mlp.experts.J.{gate,up,down}_proj; v5: fused as Mixtral's. Qwen3's
// q_norm and k_norm come from the base with the attention.
func init() {
	register(&outputArch{
		name:       "Qwen3 MoE",
		aliases:    []string{"qwen3_moe", "qwen3moe"},
		class:      "Qwen3MoeForCausalLM",
		modelType:  "qwen3_moe",
		inputTypes: []string{"qwen3"},
		powerOfTwo: true,
		layer: func(pl *Plan, l int, add func(Tensor)) {
			p := fmt.Sprintf("model.layers.%d.mlp.", l)
			if pl.Layout == LayoutV5 {
				fusedExperts(pl, l, add)
			} else {
				perExpert(pl, l, add, func(j int) string { return fmt.Sprintf("%sexperts.%d.", p, j) }, mlpNames, pl.experts)
			}
			router(pl, l, p+"gate.weight", 0, len(pl.experts), add)
		},
		config: func(pl *Plan, out map[string]any) {
			setCommon(pl, out, "Qwen3MoeForCausalLM", "qwen3_moe")
			out["num_experts"] = len(pl.experts)
			out["decoder_sparse_step"] = 1
			out["norm_topk_prob"] = true
			out["moe_intermediate_size"] = pl.Intermediate
		},
	})
}
