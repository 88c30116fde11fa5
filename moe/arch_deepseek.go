package moe

import "fmt"

// DeepSeek MoE: Llama or Mistral inputs and at most one shared expert,
// which has no prompts and no router row. Experts are stored apart
// (mlp.experts.J.*_proj), the shared one under mlp.shared_experts; the
// config points auto_map at deepseek-moe-16b's remote code.
func init() {
	register(&outputArch{
		name:       "DeepSeek MoE",
		aliases:    []string{"deepseek_moe", "deepseekmoe"},
		class:      "DeepseekForCausalLM",
		modelType:  "deepseek",
		inputTypes: []string{"llama", "mistral"},
		shared: func(c *Config) error {
			for _, e := range c.SharedExperts {
				if len(e.PositivePrompts) > 0 || len(e.NegativePrompts) > 0 {
					return fmt.Errorf("the shared expert (%s) must have no prompts: DeepSeek does not gate it", e.SourceModel.String())
				}
			}
			return nil
		},
		gatedShared: func(c *Config) bool { return c.GateMode.random() },
		layer: func(pl *Plan, l int, add func(Tensor)) {
			p := fmt.Sprintf("model.layers.%d.mlp.", l)
			perExpert(pl, l, add, func(j int) string { return fmt.Sprintf("%sexperts.%d.", p, j) }, mlpNames, pl.experts)
			perExpert(pl, l, add, func(int) string { return p + "shared_experts." }, mlpNames, pl.shared)
			router(pl, l, p+"gate.weight", 0, len(pl.experts), add)
		},
		config: func(pl *Plan, out map[string]any) {
			setCommon(pl, out, "DeepseekForCausalLM", "deepseek")
			out["n_routed_experts"] = len(pl.experts)
			if len(pl.shared) > 0 {
				out["n_shared_experts"] = len(pl.shared)
			} else {
				out["n_shared_experts"] = nil
			}
			out["first_k_dense_replace"] = 0
			out["moe_layer_freq"] = 1
			out["scoring_func"] = "softmax"
			out["norm_topk_prob"] = true
			out["moe_intermediate_size"] = pl.Intermediate
			const repo = "deepseek-ai/deepseek-moe-16b-base--"
			out["auto_map"] = map[string]any{
				"AutoConfig":           repo + "configuration_deepseek.DeepseekConfig",
				"AutoModel":            repo + "modeling_deepseek.DeepseekModel",
				"AutoModelForCausalLM": repo + "modeling_deepseek.DeepseekForCausalLM",
			}
		},
	})
}
