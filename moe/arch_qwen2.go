package moe

import (
	"errors"
	"fmt"
)

// Qwen MoE (Qwen2-MoE): exactly one shared expert, gated by its own row
// (mlp.shared_expert_gate); Llama, Mistral or Qwen2 inputs. Experts are
// stored apart; a base without attention biases gets zero q/k/v biases.
func init() {
	register(&outputArch{
		name:        "Qwen MoE",
		aliases:     []string{"qwen2_moe", "qwen2moe", "qwen2"},
		class:       "Qwen2MoeForCausalLM",
		modelType:   "qwen2_moe",
		inputTypes:  []string{"llama", "mistral", "qwen2"},
		powerOfTwo:  true,
		zeroQKVBias: true,
		shared: func(c *Config) error {
			if len(c.SharedExperts) != 1 {
				return errors.New("needs exactly one shared expert")
			}
			if e := c.SharedExperts[0]; c.GateMode != Random && len(e.PositivePrompts) == 0 && c.GateMode != UniformRandom {
				return fmt.Errorf("the shared expert (%s) needs positive_prompts for gate_mode %s: Qwen MoE gates it", e.SourceModel.String(), c.GateMode)
			}
			return nil
		},
		gatedShared: func(*Config) bool { return true },
		layer: func(pl *Plan, l int, add func(Tensor)) {
			p := fmt.Sprintf("model.layers.%d.mlp.", l)
			perExpert(pl, l, add, func(j int) string { return fmt.Sprintf("%sexperts.%d.", p, j) }, mlpNames, pl.experts)
			perExpert(pl, l, add, func(int) string { return p + "shared_expert." }, mlpNames, pl.shared)
			E := len(pl.experts)
			router(pl, l, p+"gate.weight", 0, E, add)
			router(pl, l, p+"shared_expert_gate.weight", E, E+1, add)
		},
		config: func(pl *Plan, out map[string]any) {
			setCommon(pl, out, "Qwen2MoeForCausalLM", "qwen2_moe")
			out["num_experts"] = len(pl.experts)
			out["decoder_sparse_step"] = 1
			out["norm_topk_prob"] = true
			out["sliding_window"] = nil
			out["use_sliding_window"] = false
			out["moe_intermediate_size"] = pl.Intermediate
			out["shared_expert_intermediate_size"] = pl.Intermediate
		},
	})
}
