package moe

import "fmt"

// Mixtral: Llama or Mistral inputs, no shared experts. Legacy layout:
// block_sparse_moe.experts.J.{w1,w2,w3} (gate, down, up) and
// block_sparse_moe.gate; v5: mlp.experts.{gate_up_proj,down_proj} and
// mlp.gate. A Llama base's config becomes a Mistral one with
// sliding_window null; every other base field is kept.
func init() {
	register(&outputArch{
		name:       "Mixtral",
		class:      "MixtralForCausalLM",
		modelType:  "mixtral",
		inputTypes: []string{"llama", "mistral"},
		powerOfTwo: true,
		layer: func(pl *Plan, l int, add func(Tensor)) {
			if pl.Layout == LayoutV5 {
				fusedExperts(pl, l, add)
				router(pl, l, fmt.Sprintf("model.layers.%d.mlp.gate.weight", l), 0, len(pl.experts), add)
				return
			}
			p := fmt.Sprintf("model.layers.%d.block_sparse_moe.", l)
			perExpert(pl, l, add, func(j int) string { return fmt.Sprintf("%sexperts.%d.", p, j) },
				[3]string{"w1", "w3", "w2"}, pl.experts)
			router(pl, l, p+"gate.weight", 0, len(pl.experts), add)
		},
		config: func(pl *Plan, out map[string]any) {
			setCommon(pl, out, "MixtralForCausalLM", "mixtral")
			out["num_local_experts"] = len(pl.experts)
			out["sliding_window"] = nil
		},
	})
}
