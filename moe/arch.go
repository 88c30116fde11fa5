package moe

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/merge"
)

// Layout is how a Mixtral or Qwen3-MoE output stores its experts.
type Layout int

const (
	// LayoutLegacy stores one tensor per expert and projection
	// (block_sparse_moe.experts.J.w1 for Mixtral), the layout of
	// transformers v4, llama.cpp, vLLM and nearly every published MoE.
	LayoutLegacy Layout = iota
	// LayoutV5 stores each layer's experts fused (mlp.experts.gate_up_proj,
	// mlp.experts.down_proj), the layout of transformers v5 and of
	// mergekit v0.1.4's output.
	LayoutV5
)

// ParseLayout parses "legacy" or "v5".
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "legacy", "v4", "":
		return LayoutLegacy, nil
	case "v5":
		return LayoutV5, nil
	}
	return 0, fmt.Errorf("unknown MoE layout %q (want legacy or v5)", s)
}

// String returns "legacy" or "v5".
func (l Layout) String() string {
	if l == LayoutV5 {
		return "v5"
	}
	return "legacy"
}

// outputArch is one output architecture of mergekit-moe: the rule that
// accepts a config, the MoE tensors of a layer and the config.json fields.
// Adding an architecture is adding one file that registers one value.
type outputArch struct {
	// name is mergekit's display name, which architecture: prefixes.
	name string
	// aliases are other spellings of architecture: that pick it.
	aliases []string
	// class and modelType are config.json's architectures and model_type.
	class, modelType string
	// inputTypes are the model_type values the inputs may have.
	inputTypes []string
	// shared checks the shared experts; nil means none are allowed.
	shared func(c *Config) error
	// gatedShared reports whether the shared experts get router rows.
	gatedShared func(c *Config) bool
	// layer appends layer l's MLP and router tensors.
	layer func(pl *Plan, l int, add func(Tensor))
	// config sets the architecture's config.json fields.
	config func(pl *Plan, out map[string]any)
	// powerOfTwo warns when the expert count is not a power of two.
	powerOfTwo bool
	// zeroQKVBias adds zero q/k/v biases when the base has none (Qwen2).
	zeroQKVBias bool
}

// outputArchs are the candidates in mergekit's order.
var outputArchs []*outputArch

func register(a *outputArch) { outputArchs = append(outputArchs, a) }

// ArchitectureNames returns the display names architecture: can prefix.
func ArchitectureNames() []string {
	var out []string
	for _, a := range outputArchs {
		out = append(out, a.name)
	}
	return out
}

// pickArch chooses the output architecture as mergekit's select_output_arch
// does for inputs that all have the given model_type, with errors saying
// what rules each candidate out.
func pickArch(c *Config, modelType string) (*outputArch, []string, error) {
	cands := outputArchs
	if c.Architecture != "" {
		want := strings.ToLower(c.Architecture)
		cands = nil
		for _, a := range outputArchs {
			if strings.HasPrefix(strings.ToLower(a.name), want) || slices.Contains(a.aliases, want) {
				cands = append(cands, a)
			}
		}
		if len(cands) == 0 {
			return nil, nil, &merge.ConfigError{File: c.File, Pos: c.ArchitecturePos,
				Msg: fmt.Sprintf("unknown architecture %q (want a prefix of one of: %s; or qwen2_moe, qwen3_moe)", c.Architecture, strings.Join(ArchitectureNames(), ", "))}
		}
	}
	var ok []*outputArch
	var why []string
	for _, a := range cands {
		if err := a.accepts(c, modelType); err != nil {
			why = append(why, fmt.Sprintf("%s: %v", a.name, err))
			continue
		}
		ok = append(ok, a)
	}
	if len(ok) == 0 {
		return nil, nil, fmt.Errorf("no output architecture accepts this config:\n  %s", strings.Join(why, "\n  "))
	}
	var warnings []string
	for _, a := range ok {
		if a.name == "Mixtral" {
			return a, nil, nil
		}
	}
	if len(ok) > 1 {
		var names []string
		for _, a := range ok {
			names = append(names, a.name)
		}
		warnings = append(warnings, fmt.Sprintf("several output architectures fit (%s); %s chosen: set architecture: to pick another", strings.Join(names, ", "), ok[0].name))
	}
	return ok[0], warnings, nil
}

// accepts is supports_config: the inputs' model type and the shared
// experts.
func (a *outputArch) accepts(c *Config, modelType string) error {
	if !slices.Contains(a.inputTypes, modelType) {
		return fmt.Errorf("the models' model_type %q is not one of %s", modelType, strings.Join(a.inputTypes, ", "))
	}
	if a.shared == nil {
		if len(c.SharedExperts) > 0 {
			return fmt.Errorf("no shared experts allowed")
		}
		return nil
	}
	return a.shared(c)
}

// mlpNames are a dense Llama-style layer's MLP tensors.
var mlpNames = [3]string{"gate_proj", "up_proj", "down_proj"}

func mlpName(l int, proj string) string {
	return fmt.Sprintf("model.layers.%d.mlp.%s.weight", l, proj)
}

// perExpert adds expert j's three projections under prefix+"{proj}.weight".
func perExpert(pl *Plan, l int, add func(Tensor), prefix func(j int) string, names [3]string, experts []*source) {
	for j, e := range experts {
		for k, proj := range mlpNames {
			add(Tensor{Name: prefix(j) + names[k] + ".weight", Pieces: []Piece{pl.piece(e, l, proj)}})
		}
	}
}

// fusedExperts adds the v5 gate_up_proj [E, 2I, H] and down_proj [E, H, I].
func fusedExperts(pl *Plan, l int, add func(Tensor)) {
	p := fmt.Sprintf("model.layers.%d.mlp.experts.", l)
	var gateUp, down []Piece
	for _, e := range pl.experts {
		gateUp = append(gateUp, pl.piece(e, l, "gate_proj"), pl.piece(e, l, "up_proj"))
		down = append(down, pl.piece(e, l, "down_proj"))
	}
	E, H, I := int64(len(pl.experts)), int64(pl.Hidden), int64(pl.Intermediate)
	add(Tensor{Name: p + "gate_up_proj", Shape: []int64{E, 2 * I, H}, Pieces: gateUp})
	add(Tensor{Name: p + "down_proj", Shape: []int64{E, H, I}, Pieces: down})
}

// router adds a router tensor of rows [lo, hi) of layer l's gates.
func router(pl *Plan, l int, name string, lo, hi int, add func(Tensor)) {
	add(Tensor{Name: name, Shape: []int64{int64(hi - lo), int64(pl.Hidden)}, Gate: true, Layer: l, Rows: [2]int{lo, hi}})
}

// setCommon sets the fields every output shares.
func setCommon(pl *Plan, out map[string]any, class, modelType string) {
	out["architectures"] = []any{class}
	out["model_type"] = modelType
	out["num_experts_per_tok"] = pl.Config.ExpertsPerToken
	out["torch_dtype"] = pl.DType.TorchName()
	out["dtype"] = pl.DType.TorchName()
}
