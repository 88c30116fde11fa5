package arch

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrLayerDepths is wrapped by the error Infer returns when the tensor
// names hold layer stacks of different depths, such as a vision tower next
// to a text decoder.
var ErrLayerDepths = errors.New("layer stacks of different depths")

// firstIndex finds a name's layer index: its first ".<digits>.".
var firstIndex = regexp.MustCompile(`\.(\d+)\.`)

// embedModules are the usual names of input and output embedding modules.
var embedModules = []string{
	"embed_tokens", "tok_embeddings", "word_embeddings", "wte",
	"embed_in", "embed_out", "lm_head",
}

// Infer builds an architecture from the tensor names of the input models,
// one list per model, as mergekit does for models it has no definition
// for.
//
// The first ".<digits>." in a name is its layer index and the text before
// it the name's layer prefix; the name with that index replaced by
// LayerIndex is a layer template. Names without an index are Pre weights;
// there are no Post weights. FixedLayers is the largest index plus one and
// NumLayersKey is empty, so no layer count is read from or written to a
// config.
//
// A weight is Optional when some model lacks it (a template: at some layer
// below FixedLayers). IsEmbed is set on the weight of a module with a usual
// embedding name (embed_tokens, tok_embeddings, word_embeddings, wte,
// embed_in, embed_out, lm_head) and on output.weight. mergekit also asks
// transformers for tied and embedding modules; without the model code Infer
// cannot, so a tied head that no model stores is simply absent.
//
// mergekit makes one module per layer prefix. gomerge has a single layer
// stack: the templates of every prefix go into Layer and are sliced
// together, which needs every prefix to have the same depth; otherwise
// Infer returns an error wrapping ErrLayerDepths.
//
// Weights are in the order their names first appear, models in order.
func Infer(models [][]string) (*Arch, error) {
	var (
		loose, templates []string
		depth            = map[string]int{} // prefix → layers
		prefixes         []string
		looseIn          = map[string]int{}                     // name → models holding it
		layersIn         = map[string]map[int]int{}             // template → model → layers holding it
		seen             = make([]map[string]bool, len(models)) // per model, names counted
	)
	for m, names := range models {
		seen[m] = map[string]bool{}
		for _, name := range names {
			if seen[m][name] {
				continue
			}
			seen[m][name] = true
			loc := firstIndex.FindStringSubmatchIndex(name)
			if loc == nil {
				if looseIn[name] == 0 {
					loose = append(loose, name)
				}
				looseIn[name]++
				continue
			}
			idx, err := strconv.Atoi(name[loc[2]:loc[3]])
			if err != nil {
				return nil, fmt.Errorf("arch: tensor %s: layer index: %w", name, err)
			}
			prefix := name[:loc[0]]
			if _, ok := depth[prefix]; !ok {
				prefixes = append(prefixes, prefix)
			}
			depth[prefix] = max(depth[prefix], idx+1)
			tmpl := prefix + "." + LayerIndex + "." + name[loc[1]:]
			if layersIn[tmpl] == nil {
				layersIn[tmpl] = map[int]int{}
				templates = append(templates, tmpl)
			}
			layersIn[tmpl][m]++
		}
	}
	if len(loose) == 0 && len(templates) == 0 {
		return nil, errors.New("arch: no tensors to infer an architecture from")
	}
	n, err := commonDepth(prefixes, depth)
	if err != nil {
		return nil, err
	}
	a := &Arch{Name: "inferred", FixedLayers: n, VocabSizeKey: "vocab_size"}
	for _, name := range loose {
		a.Pre = append(a.Pre, Weight{Name: name, IsEmbed: isEmbedName(name), Optional: looseIn[name] < len(models)})
	}
	for _, tmpl := range templates {
		optional := len(layersIn[tmpl]) < len(models)
		for _, k := range layersIn[tmpl] {
			optional = optional || k < n
		}
		a.Layer = append(a.Layer, Weight{Name: tmpl, IsEmbed: isEmbedName(tmpl), Optional: optional})
	}
	return a, nil
}

// commonDepth returns the depth shared by every layer prefix.
func commonDepth(prefixes []string, depth map[string]int) (int, error) {
	if len(prefixes) == 0 {
		return 0, nil
	}
	n := depth[prefixes[0]]
	for _, p := range prefixes[1:] {
		if depth[p] == n {
			continue
		}
		slices.Sort(prefixes)
		desc := make([]string, len(prefixes))
		for i, p := range prefixes {
			desc[i] = fmt.Sprintf("%s: %d layers", p, depth[p])
		}
		return 0, fmt.Errorf("arch: cannot infer one layer stack: %w (%s); gomerge has no per-module layer counts yet",
			ErrLayerDepths, strings.Join(desc, ", "))
	}
	return n, nil
}

// isEmbedName reports whether a tensor name is the weight of an
// embedding-named module.
func isEmbedName(name string) bool {
	if name == "output.weight" {
		return true
	}
	module, ok := strings.CutSuffix(name, ".weight")
	if !ok {
		return false
	}
	last := module[strings.LastIndexByte(module, '.')+1:]
	return slices.Contains(embedModules, last)
}
