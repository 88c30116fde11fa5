package evolve

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrInvalidGenotype is matched (errors.Is) by the errors of a genotype
// that cannot become a merge config: the wrong length, or a gene that is
// not a finite number.
var ErrInvalidGenotype = errors.New("invalid genotype")

// Layout is the shape of a genome's genotype, mergekit's [G, M, F+1, P]
// tensor: layer groups, models, filter sets (the filters, then the
// default set), and the method's parameters. CMA-ES sees it flattened
// row-major: group, then model, then filter set, then parameter.
type Layout struct {
	Groups, Models, Sets int
	// Params are the genes per model and set: [weight], [weight,
	// density] or [t].
	Params []string
	// Layers is num_hidden_layers of the first model; Step the layers of
	// one group.
	Layers, Step int
}

// Layout returns the genotype shape for models of numLayers layers. The
// layer granularity must divide numLayers.
func (g *Genome) Layout(numLayers int) (Layout, error) {
	if numLayers <= 0 {
		return Layout{}, fmt.Errorf("genome: %d layers", numLayers)
	}
	l := Layout{Groups: 1, Models: len(g.Models), Sets: len(g.Filters) + 1,
		Params: methodParams[g.MergeMethod], Layers: numLayers, Step: numLayers}
	if g.LayerGranularity > 0 {
		if numLayers%g.LayerGranularity != 0 {
			return Layout{}, fmt.Errorf("genome: layer_granularity %d does not divide the %d layers of %s",
				g.LayerGranularity, numLayers, g.Models[0].Ref)
		}
		l.Groups, l.Step = numLayers/g.LayerGranularity, g.LayerGranularity
	}
	return l, nil
}

// Len is the number of genes, G·M·(F+1)·P.
func (l Layout) Len() int { return l.Groups * l.Models * l.Sets * len(l.Params) }

// Index is the position of gene [group, model, set, param] in the
// flattened genotype.
func (l Layout) Index(group, model, set, param int) int {
	return ((group*l.Models+model)*l.Sets+set)*len(l.Params) + param
}

// Initial returns mergekit's starting genotype: every weight 1/M and every
// density 1, or with random U[0,1) everywhere, drawn from rng.
func (l Layout) Initial(random bool, rng *rand.Rand) []float64 {
	x := make([]float64, l.Len())
	for i := range x {
		switch {
		case random:
			x[i] = rng.Float64()
		case i%len(l.Params) == 0:
			x[i] = 1 / float64(l.Models)
		default:
			x[i] = 1
		}
	}
	return x
}

// MergeConfig decodes a genotype into the mergekit YAML config it stands
// for (mergekit's genotype_merge_config):
//
//   - density is clamp(|x|, 0, 1); weight and t are |x| unless
//     allow_negative_weights;
//   - discrete (smooth false): one slice per layer group [g·k, (g+1)·k)
//     with every model as a source; with filters each parameter is a
//     list of {filter, value} ending with the default {filter: null};
//   - smooth: models: with layer_range [0, L] and each parameter the
//     list of its G group values (a scalar when G = 1), for mergekit's
//     gradient interpolation;
//   - slerp: per group, the two models with the largest raw gene [g, m,
//     0, 0] (sign kept; the earlier model on a tie) are A and B, t =
//     softmax(A, B)[1], A is the slice's base_model, and with
//     tokenizer_source A and B carry weights 1−t and t;
//   - a base_model that is not one of the models is appended as a source
//     without parameters;
//   - then merge_method, base_model, tokenizer_source, dtype bfloat16
//     and parameters {normalize, int8_mask: true}.
func (g *Genome) MergeConfig(l Layout, x []float64) ([]byte, error) {
	if len(x) != l.Len() {
		return nil, fmt.Errorf("%w: %d genes, the genome has %d", ErrInvalidGenotype, len(x), l.Len())
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: gene %d is %v", ErrInvalidGenotype, i, v)
		}
	}
	doc := mapping("merge_method", str(g.MergeMethod))
	switch {
	case g.MergeMethod == "slerp":
		doc.Content = append(doc.Content, str("slices"), g.slerpSlices(l, x))
	case g.Smooth:
		doc.Content = append(doc.Content, str("models"), g.smoothModels(l, x))
	default:
		doc.Content = append(doc.Content, str("slices"), g.discreteSlices(l, x))
	}
	normalize := g.MergeMethod == "ties" || g.MergeMethod == "dare_ties" || g.MergeMethod == "linear"
	if g.Normalize != nil {
		normalize = *g.Normalize
	}
	doc.Content = append(doc.Content,
		str("parameters"), mapping("normalize", boolean(normalize), "int8_mask", boolean(true)),
		str("dtype"), str("bfloat16"))
	if g.BaseModel != nil {
		doc.Content = append(doc.Content, str("base_model"), g.BaseModel.Node)
	}
	if g.TokenizerSource != "" {
		doc.Content = append(doc.Content, str("tokenizer_source"), str(g.TokenizerSource))
	}
	return yaml.Marshal(doc)
}

// gene decodes one gene as its parameter's rule says.
func (g *Genome) gene(l Layout, x []float64, group, model, set, param int) float64 {
	v := x[l.Index(group, model, set, param)]
	switch l.Params[param] {
	case "density":
		return min(math.Abs(v), 1)
	default:
		if !g.AllowNegativeWeights {
			return math.Abs(v)
		}
		return v
	}
}

// separateBase reports whether base_model is not among the models and
// must be added as a source of its own.
func (g *Genome) separateBase() bool {
	if g.BaseModel == nil {
		return false
	}
	for _, m := range g.Models {
		if m.Ref.Equal(g.BaseModel.Ref) {
			return false
		}
	}
	return true
}

// params builds one model's parameters; value gives the node of a
// parameter in a filter set.
func (g *Genome) params(l Layout, value func(set, param int) *yaml.Node) *yaml.Node {
	p := mapping()
	for pi, name := range l.Params {
		if l.Sets == 1 {
			p.Content = append(p.Content, str(name), value(0, pi))
			continue
		}
		list := seq()
		for s := range l.Sets {
			filter := null()
			if s < len(g.Filters) {
				filter = str(g.Filters[s])
			}
			list.Content = append(list.Content, mapping("filter", filter, "value", value(s, pi)))
		}
		p.Content = append(p.Content, str(name), list)
	}
	return p
}

func (g *Genome) discreteSlices(l Layout, x []float64) *yaml.Node {
	slices := seq()
	for gr := range l.Groups {
		r := layerRange(gr*l.Step, (gr+1)*l.Step)
		sources := seq()
		for m, model := range g.Models {
			p := g.params(l, func(s, pi int) *yaml.Node { return float(g.gene(l, x, gr, m, s, pi)) })
			sources.Content = append(sources.Content, mapping("model", model.Node, "layer_range", r, "parameters", p))
		}
		if g.separateBase() {
			sources.Content = append(sources.Content, mapping("model", g.BaseModel.Node, "layer_range", r))
		}
		slices.Content = append(slices.Content, mapping("sources", sources))
	}
	return slices
}

func (g *Genome) smoothModels(l Layout, x []float64) *yaml.Node {
	models := seq()
	for m, model := range g.Models {
		p := g.params(l, func(s, pi int) *yaml.Node {
			if l.Groups == 1 {
				return float(g.gene(l, x, 0, m, s, pi))
			}
			list := seq()
			for gr := range l.Groups {
				list.Content = append(list.Content, float(g.gene(l, x, gr, m, s, pi)))
			}
			return list
		})
		models.Content = append(models.Content, mapping("model", model.Node, "layer_range", layerRange(0, l.Layers), "parameters", p))
	}
	if g.separateBase() {
		models.Content = append(models.Content, mapping("model", g.BaseModel.Node))
	}
	return models
}

func (g *Genome) slerpSlices(l Layout, x []float64) *yaml.Node {
	slices := seq()
	for gr := range l.Groups {
		r := layerRange(gr*l.Step, (gr+1)*l.Step)
		a, b := topTwo(l, x, gr)
		va, vb := x[l.Index(gr, a, 0, 0)], x[l.Index(gr, b, 0, 0)]
		// softmax([va, vb])[1] as torch computes it, shifted by the max va.
		e := math.Exp(vb - va)
		t := e / (1 + e)
		srcA := mapping("model", g.Models[a].Node, "layer_range", r)
		srcB := mapping("model", g.Models[b].Node, "layer_range", r)
		if g.TokenizerSource != "" {
			srcA.Content = append(srcA.Content, str("parameters"), mapping("weight", float(1-t)))
			srcB.Content = append(srcB.Content, str("parameters"), mapping("weight", float(t)))
		}
		sources := seq(srcA, srcB)
		if g.separateBase() {
			sources.Content = append(sources.Content, mapping("model", g.BaseModel.Node, "layer_range", r))
		}
		slices.Content = append(slices.Content, mapping("sources", sources,
			"parameters", mapping("t", float(t)), "base_model", g.Models[a].Node))
	}
	return slices
}

// topTwo returns the models with the largest and second largest raw
// first gene in a group; on equal genes the earlier model ranks first.
func topTwo(l Layout, x []float64, group int) (a, b int) {
	a, b = -1, -1
	for m := range l.Models {
		v := x[l.Index(group, m, 0, 0)]
		switch {
		case a < 0 || v > x[l.Index(group, a, 0, 0)]:
			a, b = m, a
		case b < 0 || v > x[l.Index(group, b, 0, 0)]:
			b = m
		}
	}
	return a, b
}

// YAML node builders for the emitted config.

func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		n.Content = append(n.Content, str(k), kv[i+1].(*yaml.Node))
	}
	return n
}

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func null() *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"} }

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func integer(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func layerRange(start, end int) *yaml.Node {
	n := seq(integer(start), integer(end))
	n.Style = yaml.FlowStyle
	return n
}

// float writes v as PyYAML does, always with a decimal point ("1.0",
// "1.0e-05"), so that mergekit reads it back as a float, not a string.
func float(v float64) *yaml.Node {
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if mant, exp, ok := strings.Cut(s, "e"); ok {
		if !strings.Contains(mant, ".") {
			mant += ".0"
		}
		s = mant + "e" + exp
	} else if !strings.Contains(s, ".") {
		s += ".0"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}
}
