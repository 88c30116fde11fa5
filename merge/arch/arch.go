// Package arch describes the tensors of each model architecture gomerge can
// merge: which weights come before the decoder layers, which repeat per
// layer, and which come after, with the flags that change how a weight is
// merged (embeddings, optional weights, aliases and tied fallbacks).
//
// The tables are written for gomerge from the Hugging Face transformers
// checkpoint layouts; they describe the same tensors as mergekit's
// architecture files but are not copies of them. Adding an architecture is
// adding one file with one Register call.
package arch

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// LayerIndex is the placeholder for the layer number in a layer template.
const LayerIndex = "${layer_index}"

// Weight is one tensor of an architecture. In layer templates Name contains
// LayerIndex.
type Weight struct {
	Name string
	// IsEmbed marks vocabulary-sized matrices (input embeddings, lm_head):
	// they get vocabulary permutation and the embedding shape rules.
	IsEmbed bool
	// Optional weights may be missing from some or all inputs.
	Optional bool
	// Aliases are other names the tensor may be stored under.
	Aliases []string
	// TiedNames are tensors to fall back to when the weight is absent
	// (lm_head.weight falls back to the input embeddings).
	TiedNames []string
	// Pieces lists, for a weight that newer checkpoints store fused, the
	// ways older checkpoints store it apart: in each alternative, the
	// names (with ExpertIndex) of one expert's pieces. The fused tensor is
	// every expert's pieces in order, expert after expert, so its bytes are
	// the pieces' bytes concatenated.
	Pieces [][]string
}

// ExpertIndex is the placeholder for the expert number in Pieces.
const ExpertIndex = "${expert}"

// ExpertNames renders one expert's piece names of an alternative.
func ExpertNames(alt []string, expert int) []string {
	out := make([]string, len(alt))
	for i, s := range alt {
		out[i] = strings.ReplaceAll(s, ExpertIndex, strconv.Itoa(expert))
	}
	return out
}

// Arch is the tensor catalogue of one architecture.
type Arch struct {
	// Name is the family's short name ("llama", "qwen2", ...).
	Name string
	// Architectures are the config.json "architectures" values it serves.
	Architectures []string
	// ModelType is the config.json "model_type" it serves; it breaks ties
	// when two definitions claim the same architecture name.
	ModelType string
	Pre       []Weight
	Layer     []Weight
	Post      []Weight
	// NumLayersKey is the config.json key (dotted path) holding the layer
	// count. Empty means every model has FixedLayers layers, whatever its
	// config says, and the output config's count is never rewritten.
	NumLayersKey string
	// NumLayersAliases are other keys that hold the layer count in some
	// checkpoints of the family (GPT-2 configs written with
	// num_hidden_layers instead of n_layer); NumLayers tries them in order
	// after NumLayersKey.
	NumLayersAliases []string
	// FixedLayers is the layer count when NumLayersKey is empty (mergekit's
	// override_num_layers); Infer sets it.
	FixedLayers int
	// VocabSizeKey is the config.json key holding the vocabulary size.
	VocabSizeKey string
}

// Render returns w with LayerIndex in its names replaced by layer.
func (w Weight) Render(layer int) Weight {
	if !strings.Contains(w.Name, "${") {
		return w
	}
	r := func(s string) string { return strings.ReplaceAll(s, LayerIndex, strconv.Itoa(layer)) }
	out := w
	out.Name = r(w.Name)
	out.Aliases = mapStrings(w.Aliases, r)
	out.TiedNames = mapStrings(w.TiedNames, r)
	if w.Pieces != nil {
		out.Pieces = make([][]string, len(w.Pieces))
		for i, alt := range w.Pieces {
			out.Pieces[i] = mapStrings(alt, r)
		}
	}
	return out
}

func mapStrings(in []string, f func(string) string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

// LayerWeights returns the weights of decoder layer i.
func (a *Arch) LayerWeights(i int) []Weight {
	out := make([]Weight, len(a.Layer))
	for j, w := range a.Layer {
		out[j] = w.Render(i)
	}
	return out
}

var registry []*Arch

// NumLayers returns a model's layer count from its config.json and the key
// it was read from: NumLayersKey or the first of NumLayersAliases present.
// An Arch with no NumLayersKey returns FixedLayers and an empty key.
func (a *Arch) NumLayers(cfg map[string]any) (n int, key string, err error) {
	if a.NumLayersKey == "" {
		return a.FixedLayers, "", nil
	}
	for _, k := range append([]string{a.NumLayersKey}, a.NumLayersAliases...) {
		v, ok := configValue(cfg, k)
		if !ok {
			continue
		}
		if n, ok := configInt(v); ok && n >= 0 {
			return n, k, nil
		}
		return 0, k, fmt.Errorf("%s is %v, not a layer count", k, v)
	}
	return 0, "", fmt.Errorf("config has no %s", strings.Join(append([]string{a.NumLayersKey}, a.NumLayersAliases...), " or "))
}

func configValue(cfg map[string]any, key string) (any, bool) {
	var cur any = cfg
	for _, p := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func configInt(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.Atoi(n.String())
		return i, err == nil
	case float64:
		return int(n), n == float64(int(n))
	case int:
		return n, true
	case int64:
		return int(n), true
	}
	return 0, false
}

// Register adds an architecture to the table. It panics on a definition
// that claims an (architecture, model_type) pair already registered; it is
// meant to be called from init functions. An empty NumLayersKey becomes
// num_hidden_layers unless FixedLayers is set, and an empty VocabSizeKey
// vocab_size.
func Register(a *Arch) {
	for _, name := range a.Architectures {
		if _, ok := lookup(name, a.ModelType, true); ok {
			panic(fmt.Sprintf("arch: %s/%s registered twice", name, a.ModelType))
		}
	}
	if a.NumLayersKey == "" && a.FixedLayers == 0 {
		a.NumLayersKey = "num_hidden_layers"
	}
	if a.VocabSizeKey == "" {
		a.VocabSizeKey = "vocab_size"
	}
	registry = append(registry, a)
}

// Lookup finds the definition for a config.json "architectures" entry. When
// several definitions serve the name, the one whose ModelType equals
// modelType wins; otherwise the first registered.
func Lookup(architecture, modelType string) (*Arch, bool) {
	return lookup(architecture, modelType, false)
}

func lookup(architecture, modelType string, exact bool) (*Arch, bool) {
	var first *Arch
	for _, a := range registry {
		for _, name := range a.Architectures {
			if name != architecture {
				continue
			}
			if a.ModelType == modelType {
				return a, true
			}
			if first == nil {
				first = a
			}
		}
	}
	if exact || first == nil {
		return nil, false
	}
	return first, true
}

// Names lists every registered architecture name, sorted, each once (some
// names are served by several definitions told apart by model_type).
func Names() []string {
	var out []string
	for _, a := range registry {
		out = append(out, a.Architectures...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Helpers that keep the tables short.

func embed(name string) Weight { return Weight{Name: name, IsEmbed: true} }

// tiedHead is an lm_head that may be absent and then falls back to the
// input embeddings.
func tiedHead(name, embedName string) Weight {
	return Weight{Name: name, IsEmbed: true, Optional: true, TiedNames: []string{embedName}}
}

func layer(prefix string, names ...string) []Weight {
	out := make([]Weight, len(names))
	for i, n := range names {
		out[i] = Weight{Name: prefix + LayerIndex + "." + n}
	}
	return out
}

// optional marks weights that only some checkpoints of a family have
// (biases behind a config switch, norms of one model size).
func optional(ws []Weight) []Weight {
	for i := range ws {
		ws[i].Optional = true
	}
	return ws
}

// concat joins weight lists.
func concat(lists ...[]Weight) []Weight {
	var out []Weight
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
