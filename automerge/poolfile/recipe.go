package poolfile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
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
	if symmetric[r.Method] && b < a {
		a, b = b, a
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
	return &Candidate{Method: r.Method, Parents: []string{a, b}, Config: cfg, Hash: Normalize(cfg)}, nil
}

func list(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = num(f)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// symmetric methods give the same model whichever parent comes first:
// their parents are written in sorted order, so that the two orders are
// one recipe.
var symmetric = map[string]bool{"model_stock": true}

// Normalize returns the hash that identifies a recipe: the SHA-256 of its
// config as Build writes it (parameters rounded, keys in a fixed order,
// the parents of a symmetric method sorted).
func Normalize(config []byte) string {
	sum := sha256.Sum256(config)
	return hex.EncodeToString(sum[:])
}
