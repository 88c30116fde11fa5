package automerge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/automerge/leaderboard"
	"github.com/gomerge/gomerge/automerge/poolfile"
)

// copyDir copies a flat model directory, rewriting config.json with edit.
func copyDir(t *testing.T, src, dst string, edit func(string) string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "config.json" && edit != nil {
			data = []byte(edit(string(data)))
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFamilies: a child's parents are of one family (children of children
// included), the methods that need a base use that family's base, and a
// model whose shape differs from its family's base is skipped with the
// reason, never drawn.
func TestFamilies(t *testing.T) {
	fx := stories(t)
	tmp := t.TempDir()
	shallow := filepath.Join(tmp, "shallow")
	copyDir(t, fx.FT[2], shallow, func(c string) string {
		return strings.Replace(c, `"num_hidden_layers": 5`, `"num_hidden_layers": 4`, 1)
	})
	ftB2 := filepath.Join(tmp, "ftB2")
	copyDir(t, fx.FT[1], ftB2, nil)
	src := fmt.Sprintf(`tasks:
  - {name: stories_train, metric: "word_perplexity,none", weight: -1}
families:
  - name: stories
    base: %s
    models: [%s, %s, %s]
  - name: other
    base: %s
    models: [%s, %s]
recipes:
  - {method: dare_ties, probability: 0.4}
  - {method: model_stock, probability: 0.3}
  - {method: slerp, probability: 0.3}
`, fx.Base, fx.FT[0], fx.FT[1], shallow, fx.Unrelated, fx.FT[2], ftB2)
	p, err := poolfile.ParsePool([]byte(src), filepath.Join(tmp, "pool.yml"))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	opt := runOpts(state, 10, 3)
	var skipped []Event
	opt.Events = func(e Event) {
		if e.Event == "model_skipped" {
			skipped = append(skipped, e)
		}
	}
	ctx := context.Background()
	_, err = Run(ctx, p, opt)
	opt.Pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0].Path != shallow || !strings.Contains(skipped[0].Error, "num_hidden_layers 4") {
		t.Errorf("skipped %+v, want %s for num_hidden_layers 4", skipped, shallow)
	}
	db, err := leaderboard.Open(ctx, filepath.Join(state, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := db.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	family := map[string]int{fx.FT[0]: 0, fx.FT[1]: 0, fx.FT[2]: 1, ftB2: 1}
	bases := []string{fx.Base, fx.Unrelated}
	seen := map[int]bool{}
	// Runs are in score order; a child is a parent only of later runs.
	slices.SortFunc(all, func(a, b leaderboard.Run) int { return int(a.ID - b.ID) })
	for _, r := range all {
		fam := -1
		for _, par := range r.Parents {
			f, ok := family[par]
			if !ok {
				t.Fatalf("run %d: parent %s is neither a pool model of a family nor an earlier child", r.ID, par)
			}
			if fam >= 0 && f != fam {
				t.Errorf("run %d: parents %q of two families", r.ID, r.Parents)
			}
			fam = f
		}
		seen[fam] = true
		if r.Method != "slerp" && !strings.Contains(r.Config, "base_model: "+bases[fam]+"\n") {
			t.Errorf("run %d (%s, family %d): config does not use the family's base %s:\n%s", r.ID, r.Method, fam, bases[fam], r.Config)
		}
		if r.Model != nil {
			family[r.Model.Path] = fam
		}
	}
	if len(all) != 10 || !seen[0] || !seen[1] {
		t.Errorf("%d runs, families drawn %v; want 10 runs over both families", len(all), seen)
	}
}
