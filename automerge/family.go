package automerge

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gomerge/gomerge/automerge/leaderboard"
	"github.com/gomerge/gomerge/automerge/poolfile"
	"github.com/gomerge/gomerge/internal/regfile"
)

// maxConfigBytes bounds a model's config.json read for the shape check.
const maxConfigBytes = 1 << 20

// shapeKeys are the config.json keys two models must agree on to be merged
// into a child that loads with the family's tokenizer: mergekit would
// refuse a layer-count or width mismatch only when the run merges, and
// would silently truncate a vocabulary.
var shapeKeys = []string{"model_type", "architectures", "hidden_size", "intermediate_size",
	"num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size"}

// shapeOf reads the shape keys of a local model directory (the model of a
// model+lora reference); ok is false for a hub id or an unreadable config,
// which are not checked.
func shapeOf(ref string) (map[string]string, bool) {
	dir, _, _ := strings.Cut(ref, "+")
	data, err := regfile.ReadFile(filepath.Join(dir, "config.json"), maxConfigBytes)
	if err != nil {
		return nil, false
	}
	var cfg map[string]json.RawMessage
	if json.Unmarshal(data, &cfg) != nil {
		return nil, false
	}
	m := map[string]string{}
	for _, k := range shapeKeys {
		if v, ok := cfg[k]; ok {
			m[k] = string(v)
		}
	}
	return m, true
}

// checkShapes skips the pool models whose shape (architecture, widths,
// layer count, vocabulary) differs from their family's base, or from the
// family's first local model when the base is not local, so that no run
// is spent on a merge that fails or a child that does not match its
// tokenizer. Hub ids are not checked.
func (s *session) checkShapes() {
	s.skipped = map[string]string{}
	for _, f := range s.pool.Families {
		ref, refName := map[string]string(nil), ""
		for _, m := range append([]string{f.Base}, f.Models...) {
			if m == "" {
				continue
			}
			if sh, ok := shapeOf(m); ok {
				ref, refName = sh, m
				break
			}
		}
		if ref == nil {
			continue
		}
		for _, m := range f.Models {
			sh, ok := shapeOf(m)
			if !ok || m == refName {
				continue
			}
			for _, k := range shapeKeys {
				if sh[k] != ref[k] {
					role := "the first model"
					if refName == f.Base {
						role = "the base"
					}
					reason := fmt.Sprintf("%s %s, %s of family %s (%s) has %s", k, orNone(sh[k]), role, f.Name, displayRef(refName), orNone(ref[k]))
					s.skipped[m] = reason
					s.event(Event{Event: "model_skipped", Name: displayRef(m), Path: m, Error: reason})
					break
				}
			}
		}
	}
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

// familyCandidates returns the candidate parents of each family: its pool
// models not skipped and, when children may be parents, the kept children
// whose first parent (through earlier children) is of the family.
func (s *session) familyCandidates(ctx context.Context) ([][]candidate, error) {
	fams := make([][]candidate, len(s.pool.Families))
	owner := map[string]int{}
	for fi, f := range s.pool.Families {
		for _, m := range f.Models {
			owner[m] = fi
			if _, skip := s.skipped[m]; !skip {
				fams[fi] = append(fams[fi], candidate{ref: m})
			}
		}
	}
	if !s.pool.ChildrenAsParents {
		return fams, nil
	}
	kept, err := s.db.Kept(ctx)
	if err != nil {
		return nil, err
	}
	if len(kept) == 0 {
		return fams, nil
	}
	all, err := s.db.Runs(ctx)
	if err != nil {
		return nil, err
	}
	paths := byPath(all)
	for _, r := range kept {
		if fi, ok := familyOf(r, owner, paths); ok {
			// A child scored on another task set is a parent like an
			// unscored model: its score does not rank against these.
			c := candidate{ref: r.Model.Path}
			if s.sameTasks(r) {
				c.score, c.scored = *r.Score, true
			}
			fams[fi] = append(fams[fi], c)
		}
	}
	return fams, nil
}

// familyOf follows a child's first parent up to a pool model; ok is false
// for a child of models no longer in the pool.
func familyOf(r leaderboard.Run, owner map[string]int, paths map[string]*leaderboard.Run) (int, bool) {
	for range 1000 {
		if len(r.Parents) == 0 {
			return 0, false
		}
		p := r.Parents[0]
		if fi, ok := owner[p]; ok {
			return fi, true
		}
		up := paths[p]
		if up == nil {
			return 0, false
		}
		r = *up
	}
	return 0, false
}

// usableRecipes are the pool's recipes a family can use: those that need
// a base only when the family has one.
func usableRecipes(recipes []poolfile.Recipe, f poolfile.Family) []poolfile.Recipe {
	var out []poolfile.Recipe
	for _, r := range recipes {
		if f.Base != "" || !poolfile.NeedsBase(r.Method) {
			out = append(out, r)
		}
	}
	return out
}
