package poolfile

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/merge"
)

const smallestPool = `base: stories              # optional; model_stock and dare_ties use it
models: [ftA, ftB, ftC]
tasks:                     # as in mergekit-evolve: name, metric, weight
  - name: stories_train
    metric: "word_perplexity,none"
    weight: -1.0
`

func TestParsePool(t *testing.T) {
	p, err := ParsePool([]byte(smallestPool), "pool.yml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Base != "stories" || len(p.Models) != 3 || len(p.Tasks) != 1 || p.Tasks[0].Weight != -1 ||
		p.Tasks[0].Metric != "word_perplexity,none" || p.Selection != SelectUniform || !p.ChildrenAsParents {
		t.Errorf("pool %+v", p)
	}
	if len(p.Recipes) != len(DefaultRecipes()) {
		t.Errorf("%d recipes, want the %d defaults", len(p.Recipes), len(DefaultRecipes()))
	}
	// Without a base only slerp is left of the defaults.
	p, err = ParsePool([]byte(strings.Replace(smallestPool, "base: stories", "", 1)), "pool.yml")
	if err != nil || len(p.Recipes) != 1 || p.Recipes[0].Method != "slerp" {
		t.Fatalf("no base: %v, %+v", err, p)
	}
	full := smallestPool + `limit: 20
keep: 4
selection: top
children_as_parents: false
dtype: bfloat16
recipes:
  - method: slerp
    probability: 0.2
    parameters: {t: [0.3, 0.7]}
  - method: della
    probability: 0.8
    parameters: {density: 0.5, weight: [0.2, 0.4], epsilon: 0.1, lambda: [0.9, 1.1]}
`
	p, err = ParsePool([]byte(full), "pool.yml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Limit != 20 || p.Keep != 4 || p.Selection != SelectTop || p.ChildrenAsParents || p.DType != "bfloat16" ||
		len(p.Recipes) != 2 || p.Recipes[1].Params["weight"] != (Range{0.2, 0.4}) || p.Recipes[1].Params["density"] != (Range{0.5, 0.5}) {
		t.Errorf("pool %+v", p)
	}
}

func TestParsePoolErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"models: [a, b]\ntask: [x]\n", "pool.yml:2: unknown key task; did you mean tasks?"},
		{"models: [a, b]\ntasks: [x]\nrecipes:\n  - method: slurp\n", "pool.yml:4: recipes[0].method \"slurp\" is not an automerge method; did you mean slerp?"},
		{"models: [a, b]\ntasks: [x]\nrecipes:\n  - method: slerp\n    probabilty: 1\n", "pool.yml:5: unknown key recipes[0].probabilty; did you mean probability?"},
		{"base: c\nmodels: [a, b]\ntasks: [x]\nrecipes:\n  - method: ties\n    parameters: {densty: 0.5}\n", "pool.yml:6: unknown key recipes[0].parameters.densty; did you mean density?"},
		{"models: [a, b]\ntasks: [x]\nrecipes:\n  - method: model_stock\n", "line 4: method model_stock needs a base model"},
		{"models: [a]\ntasks: [x]\n", "pool.yml:1: models must list at least two models"},
		{"models: [a, b]\n", "tasks must list at least one task"},
		{"models: [a, a]\ntasks: [x]\n", "pool.yml:1: models[1]: a is listed twice"},
		{"models: [a, b]\ntasks: [{name: x, metrc: acc}]\n", "pool.yml:2: tasks[0]: unknown key tasks.metrc; did you mean metric?"},
		{"models: [a, b]\ntasks: [x]\nselection: best\n", "pool.yml:3: selection \"best\": must be uniform or top"},
		{"models: [a, b]\ntasks: [x]\nkeep: 0\n", "pool.yml:3: keep must be a positive integer"},
		{"models: [a, b]\ntasks: [x]\nrecipes:\n  - method: ties\n    parameters: {weight: [0.9, 0.1]}\n", "low ≤ high"},
		{"models: [a, b]\ntasks: [x]\nrecipes:\n  - {method: slerp, probability: 0}\n", "pool.yml:4: recipes: the probabilities must not all be zero"},
		{"models: [a, b]\ntasks: [x]\ntasks: [y]\n", "pool.yml:3: tasks is given twice (first on line 2)"},
		{"base: a\nmodels: [a, b]\ntasks: [x]\n", "models[0]: a is the base model"},
		{"- a\n", "the pool must be a mapping"},
		{"models: [a, b]\ntasks: [x]\ndtype: int8\n", "pool.yml:3: dtype \"int8\""},
	} {
		_, err := ParsePool([]byte(tc.src), "pool.yml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.src, err, tc.want)
		}
	}
}

// TestParsePoolResolves: a model path relative to the pool file resolves
// against the pool's directory; a hub id stays as written.
func TestParsePoolResolves(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "ftA"), 0o755)
	p, err := ParsePool([]byte("models: [ftA, org/model]\ntasks: [x]\n"), filepath.Join(dir, "pool.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Models[0] != filepath.Join(dir, "ftA") || p.Models[1] != "org/model" {
		t.Errorf("models %q", p.Models)
	}
}

// TestBuildRecipes renders every method's template and parses it as a
// merge config; parameters fall in their ranges and are rounded.
func TestBuildRecipes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, r := range DefaultRecipes() {
		c, err := r.Build(rng, "/m/a", "/m/b", "/m/base", "float32")
		if err != nil {
			t.Fatalf("%s: %v", r.Method, err)
		}
		cfg, err := merge.ParseConfig(c.Config, r.Method)
		if err != nil {
			t.Fatalf("%s:\n%s\n%v", r.Method, c.Config, err)
		}
		if cfg.MergeMethod != r.Method || len(c.Hash) != 64 {
			t.Errorf("%s: method %s hash %q", r.Method, cfg.MergeMethod, c.Hash)
		}
		if r.Method == "slerp" && !strings.Contains(string(c.Config), "value: [0, 0.5, 0.3, 0.7, 1]") {
			t.Errorf("slerp is not AutoMerger's template:\n%s", c.Config)
		}
		if r.Method == "dare_ties" && !strings.Contains(string(c.Config), "int8_mask: true") {
			t.Errorf("dare_ties without int8_mask:\n%s", c.Config)
		}
	}
	if _, err := (Recipe{Method: "ties"}).Build(rng, "a", "b", "", ""); err == nil {
		t.Error("ties without a base built")
	}
	// Rounded draws in range.
	r := Recipe{Method: "task_arithmetic", Params: map[string]Range{"weight": {0.31, 0.33}}}
	for range 20 {
		c, err := r.Build(rng, "a", "b", "base", "")
		if err != nil {
			t.Fatal(err)
		}
		s := string(c.Config)
		if !strings.Contains(s, "weight: 0.31") && !strings.Contains(s, "weight: 0.32") && !strings.Contains(s, "weight: 0.33") {
			t.Fatalf("weight out of range or unrounded:\n%s", s)
		}
	}
}

// TestNormalize: model_stock of (a, b) and (b, a) is one recipe; slerp's
// order matters (the first parent is its base).
func TestNormalize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ms := Recipe{Method: "model_stock"}
	x, _ := ms.Build(rng, "a", "b", "base", "")
	y, _ := ms.Build(rng, "b", "a", "base", "")
	if x.Hash != y.Hash {
		t.Error("model_stock (a, b) and (b, a) hash differently")
	}
	sl := Recipe{Method: "slerp"}
	x, _ = sl.Build(rng, "a", "b", "", "")
	y, _ = sl.Build(rng, "b", "a", "", "")
	if x.Hash == y.Hash {
		t.Error("slerp (a, b) and (b, a) hash alike")
	}
}

func FuzzParsePool(f *testing.F) {
	f.Add([]byte(smallestPool))
	f.Add([]byte(smallestPool + "recipes:\n  - {method: della, probability: 2, parameters: {density: [0.1, 0.9]}}\nselection: top\nkeep: 2\n"))
	f.Add([]byte("models: [a, b+c]\ntasks: [x, {name: y, weight: .inf}]\n"))
	f.Add([]byte("models: &a [a, b]\ntasks: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePool(data, "fuzz.yml")
		if err != nil {
			return
		}
		if len(p.Models) < 2 || len(p.Tasks) == 0 || len(p.Recipes) == 0 {
			t.Fatalf("accepted an incomplete pool: %+v", p)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		for _, r := range p.Recipes {
			if _, err := r.Build(rng, p.Models[0], p.Models[1], p.Base, p.DType); err != nil && p.Base != "" {
				// A model reference merge refuses as a config is the only
				// way a parsed pool's recipe fails to build.
				if !strings.Contains(err.Error(), "recipe") {
					t.Fatalf("recipe %s: %v", r.Method, err)
				}
			}
		}
	})
}
