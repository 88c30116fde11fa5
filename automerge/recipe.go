package automerge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/merge"
)

// Candidate is a drawn recipe: a merge config over two parents.
type Candidate struct {
	Method  string
	Parents []string
	// Config is the mergekit YAML, in a canonical form: keys in a fixed
	// order, parameters rounded to two decimals.
	Config []byte
	// Hash identifies the recipe: the SHA-256 of the normalized config
	// (see [Normalize]), so that a recipe is tried once whatever the
	// seed or the order of symmetric parents.
	Hash string
}

// slerpT is AutoMerger's slerp template: t gradients for self_attn and mlp
// over the layers, 0.5 elsewhere.
var slerpT = [][]float64{{0, 0.5, 0.3, 0.7, 1}, {1, 0.5, 0.7, 0.3, 0}}

// draw samples a value of r rounded to two decimals.
func draw(rng *rand.Rand, r Range) float64 {
	v := r.Lo + (r.Hi-r.Lo)*rng.Float64()
	return math.Round(v*100) / 100
}

func num(v float64) string { return fmt.Sprintf("%g", v) }

// Build renders the recipe's config for parents a and b (and base when the
// method needs one), drawing its parameters from rng.
func (r Recipe) Build(rng *rand.Rand, a, b, base, dtype string) (*Candidate, error) {
	spec, ok := methods[r.Method]
	if !ok {
		return nil, fmt.Errorf("unknown method %s", r.Method)
	}
	if spec.needsBase && base == "" {
		return nil, fmt.Errorf("method %s needs a base model", r.Method)
	}
	ps := r.params()
	var y strings.Builder
	fmt.Fprintf(&y, "merge_method: %s\n", r.Method)
	switch r.Method {
	case "slerp":
		// AutoMerger's template: the first parent is the base.
		fmt.Fprintf(&y, "base_model: %s\nmodels:\n  - model: %s\n  - model: %s\nparameters:\n  t:\n", quote(a), quote(a), quote(b))
		if t, ok := ps["t"]; ok {
			fmt.Fprintf(&y, "    - value: %s\n", num(draw(rng, t)))
		} else {
			fmt.Fprintf(&y, "    - filter: self_attn\n      value: %s\n", list(slerpT[0]))
			fmt.Fprintf(&y, "    - filter: mlp\n      value: %s\n", list(slerpT[1]))
			y.WriteString("    - value: 0.5\n")
		}
	case "model_stock":
		fmt.Fprintf(&y, "base_model: %s\nmodels:\n  - model: %s\n  - model: %s\n", quote(base), quote(a), quote(b))
	default:
		fmt.Fprintf(&y, "base_model: %s\nmodels:\n  - model: %s\n", quote(base), quote(base))
		for _, m := range []string{a, b} {
			fmt.Fprintf(&y, "  - model: %s\n    parameters:\n", quote(m))
			for _, name := range methodParams[r.Method] {
				if name == "lambda" || name == "epsilon" {
					continue // global parameters
				}
				if rg, ok := ps[name]; ok {
					fmt.Fprintf(&y, "      %s: %s\n", name, num(draw(rng, rg)))
				}
			}
		}
		switch r.Method {
		case "dare_ties":
			y.WriteString("parameters:\n  int8_mask: true\n")
		case "ties":
			y.WriteString("parameters:\n  normalize: true\n")
		case "della":
			y.WriteString("parameters:\n")
			for _, name := range []string{"epsilon", "lambda"} {
				if rg, ok := ps[name]; ok {
					fmt.Fprintf(&y, "  %s: %s\n", name, num(draw(rng, rg)))
				}
			}
		}
	}
	if dtype != "" {
		fmt.Fprintf(&y, "dtype: %s\n", dtype)
	}
	cfg := []byte(y.String())
	if _, err := merge.ParseConfig(cfg, r.Method+" recipe"); err != nil {
		return nil, fmt.Errorf("recipe %s: %w", r.Method, err)
	}
	return &Candidate{Method: r.Method, Parents: []string{a, b}, Config: cfg, Hash: Normalize(r.Method, cfg, a, b)}, nil
}

func list(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = num(f)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// symmetric methods give the same model whichever parent comes first, when
// their parameters are swapped with them: model_stock has none, so its
// parents are sorted before hashing.
var symmetric = map[string]bool{"model_stock": true}

// Normalize returns the hash of a recipe's config: the config as Build
// writes it (parameters already rounded, keys in a fixed order), with the
// parents of a symmetric method in sorted order.
func Normalize(method string, config []byte, a, b string) string {
	s := string(config)
	if symmetric[method] && b < a {
		const ph = "\x00parent\x00"
		s = strings.ReplaceAll(s, quote(a), ph)
		s = strings.ReplaceAll(s, quote(b), quote(a))
		s = strings.ReplaceAll(s, ph, quote(b))
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// pickRecipe draws a recipe by probability.
func pickRecipe(rng *rand.Rand, recipes []Recipe) Recipe {
	var total float64
	for _, r := range recipes {
		total += r.Probability
	}
	x := rng.Float64() * total
	for _, r := range recipes {
		if x < r.Probability {
			return r
		}
		x -= r.Probability
	}
	return recipes[len(recipes)-1]
}

// candidate is a model that may be a parent, with its leaderboard score
// when it has one.
type candidate struct {
	ref    string
	score  float64
	scored bool
}

// pickParents draws two distinct parents: uniformly, or (SelectTop) with
// weight 1/(rank+1) by score, unscored models ranking in the middle.
func pickParents(rng *rand.Rand, cands []candidate, selection string) (string, string) {
	if selection != SelectTop {
		i := rng.IntN(len(cands))
		j := rng.IntN(len(cands) - 1)
		if j >= i {
			j++
		}
		return cands[i].ref, cands[j].ref
	}
	order := slices.Clone(cands)
	var scored []candidate
	var unscored []candidate
	for _, c := range order {
		if c.scored {
			scored = append(scored, c)
		} else {
			unscored = append(unscored, c)
		}
	}
	slices.SortStableFunc(scored, func(x, y candidate) int {
		switch {
		case x.score > y.score:
			return -1
		case x.score < y.score:
			return 1
		}
		return 0
	})
	mid := len(scored) / 2
	ranked := append(append(slices.Clone(scored[:mid]), unscored...), scored[mid:]...)
	w := make([]float64, len(ranked))
	for i := range w {
		w[i] = 1 / float64(i+1)
	}
	pick := func(skip int) int {
		var total float64
		for i, x := range w {
			if i != skip {
				total += x
			}
		}
		x := rng.Float64() * total
		for i, v := range w {
			if i == skip {
				continue
			}
			if x < v {
				return i
			}
			x -= v
		}
		for i := len(w) - 1; i >= 0; i-- {
			if i != skip {
				return i
			}
		}
		return 0
	}
	i := pick(-1)
	j := pick(i)
	return ranked[i].ref, ranked[j].ref
}
