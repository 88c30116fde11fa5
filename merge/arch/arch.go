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
	"fmt"
	"sort"
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
	// count.
	NumLayersKey string
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

// Register adds an architecture to the table. It panics on a definition
// that claims an (architecture, model_type) pair already registered; it is
// meant to be called from init functions.
func Register(a *Arch) {
	for _, name := range a.Architectures {
		if _, ok := lookup(name, a.ModelType, true); ok {
			panic(fmt.Sprintf("arch: %s/%s registered twice", name, a.ModelType))
		}
	}
	if a.NumLayersKey == "" {
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

// Names lists every registered architecture name, sorted.
func Names() []string {
	var out []string
	for _, a := range registry {
		out = append(out, a.Architectures...)
	}
	sort.Strings(out)
	return out
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
