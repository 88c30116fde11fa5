package automerge

import (
	"math/rand/v2"
	"slices"

	"github.com/gomerge/gomerge/automerge/poolfile"
)

// pickRecipe draws a recipe by probability.
func pickRecipe(rng *rand.Rand, recipes []poolfile.Recipe) poolfile.Recipe {
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
	if selection != poolfile.SelectTop {
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
