package merge

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/merge/arch"
)

// checkModelConfigs compares every input model's config.json with the
// shapes of its tensors before anything is planned: a config that claims
// another vocabulary, width or depth than the weights would be copied into
// the output (or would make the merge read the wrong layers), and
// transformers would refuse or misread the result. Models without an
// architecture table are not checked. With AllowCrimes the findings are
// warnings.
func (p *planner) checkModelConfigs() error {
	for _, m := range p.plan.Models {
		if m.Arch == nil {
			continue
		}
		problem := configMismatch(m)
		if problem == "" {
			continue
		}
		if p.opt.AllowCrimes {
			p.warnf("model %s: %s", m.Ref.String(), problem)
			continue
		}
		return p.errorf(m.Ref.Pos, "model %s: %s (pass --allow-crimes to merge it anyway)", m.Ref.String(), problem)
	}
	return nil
}

// configMismatch returns the first disagreement between a model's
// config.json and its tensors, or "".
func configMismatch(m *SourceModel) string {
	a, cfg, file := m.Arch, m.Config, m.configPath()
	intKey := func(keys ...string) (string, int, bool) {
		for _, k := range keys {
			if v, ok := configInt(cfg, k); ok {
				return k, v, true
			}
		}
		return "", 0, false
	}
	shape := func(w arch.Weight) ([]int64, bool) {
		if info, direct, found := findTensor(m, w); found && direct {
			return info.Shape, true
		}
		return nil, false
	}
	// Vocabulary: every embedding matrix has vocab_size rows.
	if key, vocab, ok := intKey(a.VocabSizeKey); ok {
		for _, w := range slices.Concat(a.Pre, a.Post) {
			if s, ok := shape(w); ok && w.IsEmbed && len(s) == 2 && s[0] != int64(vocab) {
				return fmt.Sprintf("%s says %s %d, but %s has %d rows", file, key, vocab, w.Name, s[0])
			}
		}
	}
	// Width, for text models (a dotted vocabulary key means the text
	// settings are nested and the top-level ones describe something else).
	textOnly := !strings.Contains(a.VocabSizeKey, ".")
	hKey, hidden, hasHidden := intKey("hidden_size", "n_embd", "d_model")
	if textOnly && hasHidden {
		for _, w := range a.Pre {
			if s, ok := shape(w); ok && w.IsEmbed && len(s) == 2 && s[1] != int64(hidden) {
				return fmt.Sprintf("%s says %s %d, but %s is %v", file, hKey, hidden, w.Name, s)
			}
		}
		for _, w := range a.Post {
			if s, ok := shape(w); ok && len(s) == 1 && isNormName(w.Name) && s[0] != int64(hidden) {
				return fmt.Sprintf("%s says %s %d, but %s is %v", file, hKey, hidden, w.Name, s)
			}
		}
	}
	// Depth: layers 0 … n−1 are stored and layer n is not.
	if a.NumLayersKey != "" {
		if probe, ok := firstRequired(a.Layer); ok {
			stored := 0
			for ; stored <= m.Layers; stored++ {
				if _, ok := shape(probe.Render(stored)); !ok {
					break
				}
			}
			_, key, _ := a.NumLayers(cfg)
			switch {
			case stored > m.Layers:
				return fmt.Sprintf("%s says %s %d, but %s is stored too: the tensors hold more layers", file, key, m.Layers, probe.Render(m.Layers).Name)
			case stored > 0 && stored < m.Layers:
				return fmt.Sprintf("%s says %s %d, but the tensors hold %d layers (no %s)", file, key, m.Layers, stored, probe.Render(stored).Name)
			}
		}
	}
	if !textOnly || !hasHidden {
		return ""
	}
	// MLP and attention widths, where the tensor names say what they are.
	heads, hasHeads := configInt(cfg, "num_attention_heads")
	kvHeads, hasKV := configInt(cfg, "num_key_value_heads")
	if !hasKV {
		kvHeads = heads
	}
	headDim, hasHeadDim := configInt(cfg, "head_dim")
	if !hasHeadDim && heads > 0 {
		headDim = hidden / heads
	}
	inter, hasInter := configInt(cfg, "intermediate_size")
	for i := 0; i < m.Layers; i++ {
		for _, w := range a.Layer {
			w = w.Render(i)
			s, ok := shape(w)
			if !ok || len(s) != 2 {
				continue
			}
			var key string
			var want int64
			var dim int
			switch {
			case hasInter && (strings.HasSuffix(w.Name, ".mlp.up_proj.weight") || strings.HasSuffix(w.Name, ".mlp.gate_proj.weight")):
				key, want, dim = "intermediate_size", int64(inter), 0
			case hasInter && strings.HasSuffix(w.Name, ".mlp.down_proj.weight"):
				key, want, dim = "intermediate_size", int64(inter), 1
			case hasHeads && heads > 0 && strings.HasSuffix(w.Name, ".self_attn.q_proj.weight"):
				key, want = "num_attention_heads × head_dim", int64(heads*headDim)
			case hasHeads && heads > 0 && (strings.HasSuffix(w.Name, ".self_attn.k_proj.weight") || strings.HasSuffix(w.Name, ".self_attn.v_proj.weight")):
				key, want = "num_key_value_heads × head_dim", int64(kvHeads*headDim)
			default:
				continue
			}
			if s[dim] != want {
				return fmt.Sprintf("%s gives %s = %d, but %s is %v", file, key, want, w.Name, s)
			}
		}
	}
	return ""
}

// firstRequired is the first layer weight every checkpoint stores whole.
func firstRequired(ws []arch.Weight) (arch.Weight, bool) {
	for _, w := range ws {
		if !w.Optional && len(w.Pieces) == 0 {
			return w, true
		}
	}
	return arch.Weight{}, false
}

// isNormName reports whether a weight name is a final norm's (model.norm,
// ln_f, final_layernorm).
func isNormName(name string) bool {
	return strings.Contains(name, "norm") || strings.Contains(name, "ln_f")
}

// configInt reads an integer config value at a dotted key.
func configInt(cfg map[string]any, key string) (int, bool) {
	var cur any = cfg
	for _, part := range strings.Split(key, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		if cur, ok = obj[part]; !ok {
			return 0, false
		}
	}
	switch v := cur.(type) {
	case interface{ Int64() (int64, error) }: // json.Number
		n, err := v.Int64()
		return int(n), err == nil
	case float64:
		return int(v), v == float64(int(v))
	case int:
		return v, true
	}
	return 0, false
}
