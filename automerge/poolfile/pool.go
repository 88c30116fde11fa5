// Package poolfile reads gomerge automerge's pool files (the models to
// breed from, the tasks that score a child, the recipes with their
// probabilities and parameter ranges) and renders a recipe into a merge
// config. It is apart from package automerge so that its parser (and
// fuzz target) builds without the leaderboard's database.
package poolfile

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gomerge/gomerge/internal/editdist"
	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/worker"
)

// DefaultKeep is how many children keep their weights on disk when neither
// the pool nor the caller says.
const DefaultKeep = 3

// maxPoolBytes bounds the pool file read.
const maxPoolBytes = 4 << 20

// Pool is an automerge pool file: the models to breed from, the tasks that
// score a child, the recipes and how parents are picked.
type Pool struct {
	// Base is the base model of the methods that need one (model_stock,
	// dare_ties, ties, task_arithmetic, della); "" drops those methods
	// from the default recipes.
	Base string
	// Models are the candidate parents: local directories, hub ids,
	// model+lora references.
	Models []string
	// Families are the groups parents are drawn from: a child's two
	// parents are of one family, and the methods that need a base use
	// that family's. The top-level base and models are the first family
	// (named "default") when models lists any; the families key adds
	// more, each with its own base (the top-level base when it gives
	// none). Never empty after ParsePool.
	Families []Family
	// Tasks are the weighted tasks that score a child (as in
	// mergekit-evolve: the score is Σ metric × weight, higher is better).
	Tasks []worker.Task
	// Limit caps the documents of each task (0: all).
	Limit int
	// NumFewshot overrides the tasks' few-shot count when set.
	NumFewshot *int
	// Recipes are the merge templates drawn from, each with its
	// probability; DefaultRecipes when the file lists none.
	Recipes []Recipe
	// Selection is how parents are drawn: SelectUniform or SelectTop.
	Selection string
	// Keep is how many children keep their weights on disk (0: the
	// caller's default).
	Keep int
	// ChildrenAsParents lets kept children be parents of later runs
	// (merges of merges); on unless the file says otherwise.
	ChildrenAsParents bool
	// DType is the children's dtype ("" leaves the merge's default).
	DType string
	// File names the pool in errors; Dir is where relative model paths
	// resolve.
	File, Dir string
}

// Family is a group of models that share a base model (fine-tunes of one
// pretrained model): parents of one child are drawn from one family.
type Family struct {
	// Name names the family in logs and errors.
	Name string
	// Base is the family's base model ("" : the methods that need a base
	// are not drawn for this family).
	Base string
	// Models are the family's candidate parents.
	Models []string
	// Line is the pool file line of the family (0: the top level).
	Line int
}

// DefaultFamily is the name of the family of the pool's top-level base
// and models.
const DefaultFamily = "default"

// Parent selection modes.
const (
	// SelectUniform draws two distinct parents uniformly, as AutoMerger
	// does from the leaderboard's top 20.
	SelectUniform = "uniform"
	// SelectTop draws parents with probability falling with their rank on
	// the leaderboard (weight 1/(rank+1)); unscored pool models rank in
	// the middle.
	SelectTop = "top"
)

// Recipe is a merge template: a method, how often it is drawn, and the
// ranges its parameters are drawn from.
type Recipe struct {
	Method string
	// Probability is the recipe's relative weight in the draw.
	Probability float64
	// Params map a parameter name to the range [Lo, Hi] its value is
	// drawn from (Lo == Hi for a fixed value).
	Params map[string]Range
	// Line is the pool file line that defined the recipe (0: default).
	Line int
}

// Range is a closed interval a parameter is drawn from.
type Range struct{ Lo, Hi float64 }

// methodSpec is what automerge knows of a method: whether it needs a base
// model, its parameters and their default ranges.
type methodSpec struct {
	needsBase bool
	params    map[string]Range
}

// methods are the methods a recipe may use. The defaults follow
// AutoMerger's and LazyMergekit's templates (dare_ties: density 0.53,
// weight 0.4-0.6), widened into ranges so that repeated draws differ.
var methods = map[string]methodSpec{
	"slerp":           {params: map[string]Range{}}, // AutoMerger's t gradients unless t is given
	"dare_ties":       {needsBase: true, params: map[string]Range{"density": {0.45, 0.65}, "weight": {0.3, 0.7}}},
	"model_stock":     {needsBase: true, params: map[string]Range{}},
	"ties":            {needsBase: true, params: map[string]Range{"density": {0.4, 0.7}, "weight": {0.3, 0.7}}},
	"task_arithmetic": {needsBase: true, params: map[string]Range{"weight": {0.3, 0.7}}},
	"della":           {needsBase: true, params: map[string]Range{"density": {0.4, 0.7}, "weight": {0.3, 0.7}, "epsilon": {0.05, 0.15}}},
}

// methodParams are the parameters each method accepts in a pool file.
var methodParams = map[string][]string{
	"slerp":           {"t"},
	"dare_ties":       {"density", "weight"},
	"model_stock":     nil,
	"ties":            {"density", "weight"},
	"task_arithmetic": {"weight"},
	"della":           {"density", "weight", "epsilon", "lambda"},
}

// DefaultRecipes is the recipe pool when a pool file lists none:
// AutoMerger's slerp, dare_ties and model_stock templates, and ties,
// task_arithmetic and della.
func DefaultRecipes() []Recipe {
	return []Recipe{
		{Method: "slerp", Probability: 0.25},
		{Method: "dare_ties", Probability: 0.25},
		{Method: "model_stock", Probability: 0.2},
		{Method: "ties", Probability: 0.1},
		{Method: "task_arithmetic", Probability: 0.1},
		{Method: "della", Probability: 0.1},
	}
}

// params returns the recipe's ranges over the method's defaults.
func (r Recipe) params() map[string]Range {
	p := map[string]Range{}
	for k, v := range methods[r.Method].params {
		p[k] = v
	}
	for k, v := range r.Params {
		p[k] = v
	}
	return p
}

var (
	poolKeys   = []string{"base", "models", "families", "tasks", "limit", "num_fewshot", "recipes", "selection", "keep", "children_as_parents", "dtype"}
	recipeKeys = []string{"method", "probability", "parameters"}
	familyKeys = []string{"name", "base", "models"}
	dtypes     = []string{"float32", "float16", "bfloat16"}
)

// LoadPool reads and parses a pool file (bounded in size, a regular file).
func LoadPool(path string) (*Pool, error) {
	data, err := regfile.ReadFile(path, maxPoolBytes)
	if err != nil {
		return nil, err
	}
	return ParsePool(data, path)
}

// ParsePool parses a pool file; file names it in errors, which give the
// YAML line. Unknown keys are errors that suggest the nearest known one.
// Relative local model paths resolve against file's directory.
func ParsePool(data []byte, file string) (p *Pool, err error) {
	defer func() {
		// yaml is third-party code; its panics must not crash a run.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%s: invalid YAML: %v", file, r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: the pool must be a mapping with models and tasks", file)
	}
	root := doc.Content[0]
	pp := &poolParser{file: file}
	p = &Pool{File: file, Dir: filepath.Dir(file), Selection: SelectUniform, ChildrenAsParents: true}
	if err := pp.keys(root, poolKeys, ""); err != nil {
		return nil, err
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			return nil, pp.errorf(k, "%s is given twice (first on line %d)", k.Value, prev.Line)
		}
		seen[k.Value] = k
		if err := pp.key(p, k.Value, v); err != nil {
			return nil, err
		}
	}
	if len(p.Models) > 0 || p.Base != "" && len(p.Families) == 0 {
		if len(p.Models) < 2 {
			n := root
			if seen["models"] != nil {
				n = seen["models"]
			}
			return nil, pp.errorf(n, "models must list at least two models")
		}
		p.Families = append([]Family{{Name: DefaultFamily, Base: p.Base, Models: p.Models}}, p.Families...)
	}
	if len(p.Families) == 0 {
		return nil, pp.errorf(root, "models must list at least two models (or families, each with its models)")
	}
	for i := range p.Families {
		if p.Families[i].Base == "" {
			p.Families[i].Base = p.Base
		}
	}
	if len(p.Tasks) == 0 {
		return nil, pp.errorf(root, "tasks must list at least one task")
	}
	if seen["recipes"] == nil {
		for _, r := range DefaultRecipes() {
			if methods[r.Method].needsBase && !p.anyBase() {
				continue
			}
			p.Recipes = append(p.Recipes, r)
		}
	}
	if err := p.checkModels(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

type poolParser struct{ file string }

func (pp *poolParser) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", pp.file, n.Line, fmt.Sprintf(format, args...))
}

// keys refuses a key that is not known, naming the nearest known one.
func (pp *poolParser) keys(m *yaml.Node, known []string, prefix string) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode {
			return pp.errorf(k, "%skeys must be strings", prefix)
		}
		if slices.Contains(known, k.Value) {
			continue
		}
		if near := nearest(k.Value, known); near != "" {
			return pp.errorf(k, "unknown key %s%s; did you mean %s?", prefix, k.Value, near)
		}
		return pp.errorf(k, "unknown key %s%s (known: %s)", prefix, k.Value, strings.Join(known, ", "))
	}
	return nil
}

func (pp *poolParser) key(p *Pool, key string, v *yaml.Node) error {
	var err error
	switch key {
	case "base":
		if v.Tag == "!!null" {
			return nil
		}
		p.Base, err = pp.str(v, "base")
	case "models":
		if v.Kind != yaml.SequenceNode {
			return pp.errorf(v, "models must be a list of model references")
		}
		for i, n := range v.Content {
			m, err := pp.str(n, fmt.Sprintf("models[%d]", i))
			if err != nil {
				return err
			}
			if slices.Contains(p.Models, m) {
				return pp.errorf(n, "models[%d]: %s is listed twice", i, m)
			}
			p.Models = append(p.Models, m)
		}
	case "families":
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return pp.errorf(v, "families must be a non-empty list of {name, base, models}")
		}
		for i, n := range v.Content {
			f, err := pp.family(n, fmt.Sprintf("families[%d]", i))
			if err != nil {
				return err
			}
			for _, g := range p.Families {
				if g.Name == f.Name {
					return pp.errorf(n, "families[%d]: the name %s is given twice (first on line %d)", i, f.Name, g.Line)
				}
			}
			p.Families = append(p.Families, f)
		}
	case "tasks":
		if v.Kind != yaml.SequenceNode {
			return pp.errorf(v, "tasks must be a list (name, metric, weight)")
		}
		for i, n := range v.Content {
			t, err := pp.task(n)
			if err != nil {
				return pp.errorf(n, "tasks[%d]: %v", i, err)
			}
			p.Tasks = append(p.Tasks, t)
		}
	case "limit":
		if err := v.Decode(&p.Limit); err != nil || p.Limit < 0 {
			return pp.errorf(v, "limit must be a non-negative integer")
		}
	case "num_fewshot":
		var n int
		if err := v.Decode(&n); err != nil || n < 0 {
			return pp.errorf(v, "num_fewshot must be a non-negative integer")
		}
		p.NumFewshot = &n
	case "keep":
		if err := v.Decode(&p.Keep); err != nil || p.Keep < 1 {
			return pp.errorf(v, "keep must be a positive integer")
		}
	case "children_as_parents":
		if err := v.Decode(&p.ChildrenAsParents); err != nil {
			return pp.errorf(v, "children_as_parents must be true or false")
		}
	case "selection":
		s, err := pp.str(v, "selection")
		if err != nil {
			return err
		}
		if s != SelectUniform && s != SelectTop {
			if near := nearest(s, []string{SelectUniform, SelectTop}); near != "" {
				return pp.errorf(v, "selection %q: must be uniform or top; did you mean %s?", s, near)
			}
			return pp.errorf(v, "selection %q: must be uniform or top", s)
		}
		p.Selection = s
	case "dtype":
		if p.DType, err = pp.str(v, "dtype"); err != nil {
			return err
		}
		if !slices.Contains(dtypes, p.DType) {
			return pp.errorf(v, "dtype %q: must be one of %s", p.DType, strings.Join(dtypes, ", "))
		}
	case "recipes":
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return pp.errorf(v, "recipes must be a non-empty list of {method, probability, parameters}")
		}
		for i, n := range v.Content {
			r, err := pp.recipe(n, fmt.Sprintf("recipes[%d]", i))
			if err != nil {
				return err
			}
			p.Recipes = append(p.Recipes, r)
		}
		if err := pp.checkRecipes(p, v); err != nil {
			return err
		}
	}
	return err
}

// family reads one entry of families.
func (pp *poolParser) family(n *yaml.Node, what string) (Family, error) {
	f := Family{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return f, pp.errorf(n, "%s must be a mapping with name, base and models", what)
	}
	if err := pp.keys(n, familyKeys, what+"."); err != nil {
		return f, err
	}
	var models *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "name":
			f.Name, err = pp.str(v, what+".name")
		case "base":
			if v.Tag != "!!null" {
				f.Base, err = pp.str(v, what+".base")
			}
		case "models":
			models = v
		}
		if err != nil {
			return f, err
		}
	}
	if f.Name == "" {
		f.Name = fmt.Sprintf("family%d", n.Line)
	}
	if models == nil || models.Kind != yaml.SequenceNode || len(models.Content) < 2 {
		at := n
		if models != nil {
			at = models
		}
		return f, pp.errorf(at, "%s.models must list at least two models", what)
	}
	for i, m := range models.Content {
		s, err := pp.str(m, fmt.Sprintf("%s.models[%d]", what, i))
		if err != nil {
			return f, err
		}
		if slices.Contains(f.Models, s) {
			return f, pp.errorf(m, "%s.models[%d]: %s is listed twice", what, i, s)
		}
		f.Models = append(f.Models, s)
	}
	return f, nil
}

func (pp *poolParser) str(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Value == "" {
		return "", pp.errorf(n, "%s must be a non-empty string", what)
	}
	return n.Value, nil
}

func (pp *poolParser) task(n *yaml.Node) (worker.Task, error) {
	t := worker.Task{Weight: 1, Metric: "acc,none"}
	switch n.Kind {
	case yaml.ScalarNode:
		t.Name = n.Value
	case yaml.MappingNode:
		if err := pp.keys(n, []string{"name", "metric", "weight"}, "tasks."); err != nil {
			return t, errors.New(strings.TrimPrefix(err.Error(), fmt.Sprintf("%s:%d: ", pp.file, n.Line)))
		}
		var r struct {
			Name   string   `yaml:"name"`
			Weight *float64 `yaml:"weight"`
			Metric *string  `yaml:"metric"`
		}
		if err := n.Decode(&r); err != nil {
			return t, err
		}
		t.Name = r.Name
		if r.Weight != nil {
			t.Weight = *r.Weight
		}
		if r.Metric != nil {
			t.Metric = *r.Metric
		}
	default:
		return t, errors.New("a task is a name or a mapping with name, metric and weight")
	}
	if t.Name == "" {
		return t, errors.New("a task needs a name")
	}
	if t.Metric == "" {
		return t, fmt.Errorf("task %s: empty metric", t.Name)
	}
	if math.IsNaN(t.Weight) || math.IsInf(t.Weight, 0) {
		return t, fmt.Errorf("task %s: weight must be a finite number", t.Name)
	}
	return t, nil
}

func (pp *poolParser) recipe(n *yaml.Node, what string) (Recipe, error) {
	r := Recipe{Probability: 1, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return r, pp.errorf(n, "%s must be a mapping with method, probability and parameters", what)
	}
	if err := pp.keys(n, recipeKeys, what+"."); err != nil {
		return r, err
	}
	var params *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "method":
			m, err := pp.str(v, what+".method")
			if err != nil {
				return r, err
			}
			if _, ok := methods[m]; !ok {
				names := slices.Sorted(func(yield func(string) bool) {
					for k := range methods {
						if !yield(k) {
							return
						}
					}
				})
				if near := nearest(m, names); near != "" {
					return r, pp.errorf(v, "%s.method %q is not an automerge method; did you mean %s?", what, m, near)
				}
				return r, pp.errorf(v, "%s.method %q: must be one of %s", what, m, strings.Join(names, ", "))
			}
			r.Method = m
		case "probability":
			if err := v.Decode(&r.Probability); err != nil || !(r.Probability >= 0) || math.IsInf(r.Probability, 0) {
				return r, pp.errorf(v, "%s.probability must be a non-negative number", what)
			}
		case "parameters":
			params = v
		}
	}
	if r.Method == "" {
		return r, pp.errorf(n, "%s needs a method", what)
	}
	if params == nil || params.Tag == "!!null" {
		return r, nil
	}
	if params.Kind != yaml.MappingNode {
		return r, pp.errorf(params, "%s.parameters must be a mapping of name: value or [low, high]", what)
	}
	if err := pp.keys(params, methodParams[r.Method], what+".parameters."); err != nil {
		return r, err
	}
	r.Params = map[string]Range{}
	for i := 0; i+1 < len(params.Content); i += 2 {
		k, v := params.Content[i], params.Content[i+1]
		rg, err := pp.paramRange(v)
		if err != nil {
			return r, pp.errorf(v, "%s.parameters.%s: %v", what, k.Value, err)
		}
		r.Params[k.Value] = rg
	}
	return r, nil
}

// paramRange reads a value (fixed) or [low, high].
func (pp *poolParser) paramRange(v *yaml.Node) (Range, error) {
	var rg Range
	switch v.Kind {
	case yaml.ScalarNode:
		var f float64
		if err := v.Decode(&f); err != nil {
			return rg, errors.New("want a number or [low, high]")
		}
		rg = Range{f, f}
	case yaml.SequenceNode:
		var fs []float64
		if err := v.Decode(&fs); err != nil || len(fs) != 2 {
			return rg, errors.New("want a number or [low, high]")
		}
		rg = Range{fs[0], fs[1]}
	default:
		return rg, errors.New("want a number or [low, high]")
	}
	if math.IsNaN(rg.Lo) || math.IsNaN(rg.Hi) || math.IsInf(rg.Lo, 0) || math.IsInf(rg.Hi, 0) || rg.Lo > rg.Hi {
		return rg, errors.New("want finite numbers with low ≤ high")
	}
	return rg, nil
}

func (pp *poolParser) checkRecipes(p *Pool, v *yaml.Node) error {
	var total float64
	for _, r := range p.Recipes {
		total += r.Probability
	}
	if !(total > 0) {
		return pp.errorf(v, "recipes: the probabilities must not all be zero")
	}
	return nil
}

// anyBase reports whether some family (or the top level) has a base.
func (p *Pool) anyBase() bool {
	if p.Base != "" {
		return true
	}
	for _, f := range p.Families {
		if f.Base != "" {
			return true
		}
	}
	return false
}

// checkModels resolves relative local paths against the pool's directory,
// checks that no model is in two families or is a family's own base, and
// that recipes needing a base have a family with one.
func (p *Pool) checkModels() error {
	if p.Base != "" {
		p.Base = p.resolve(p.Base)
	}
	for i := range p.Models {
		p.Models[i] = p.resolve(p.Models[i])
	}
	owner := map[string]string{}
	var all []string
	for fi := range p.Families {
		f := &p.Families[fi]
		at := "models"
		if f.Line > 0 {
			at = fmt.Sprintf("line %d: family %s: models", f.Line, f.Name)
		}
		if f.Base != "" {
			f.Base = p.resolve(f.Base)
			all = append(all, f.Base)
		}
		for i, m := range f.Models {
			f.Models[i] = p.resolve(m)
			if f.Base != "" && f.Models[i] == f.Base {
				return fmt.Errorf("%s[%d]: %s is the base model; list it as base only", at, i, m)
			}
			if o, dup := owner[f.Models[i]]; dup {
				return fmt.Errorf("%s[%d]: %s is also in family %s; a model belongs to one family", at, i, m, o)
			}
			owner[f.Models[i]] = f.Name
			all = append(all, f.Models[i])
		}
	}
	for _, r := range p.Recipes {
		if methods[r.Method].needsBase && !p.anyBase() {
			return fmt.Errorf("line %d: method %s needs a base model: set base (or a family's base)", r.Line, r.Method)
		}
	}
	// Every reference must read as a merge model reference.
	var b bytes.Buffer
	b.WriteString("merge_method: passthrough\nmodels:\n")
	for _, m := range all {
		fmt.Fprintf(&b, "  - model: %s\n", quote(m))
	}
	if _, err := merge.ParseConfig(b.Bytes(), "pool models"); err != nil {
		return err
	}
	return nil
}

// NeedsBase reports whether method needs a base model.
func NeedsBase(method string) bool { return methods[method].needsBase }

// resolve makes a model path that exists relative to the pool file's
// directory absolute; hub ids and absolute paths stay as written. A
// model+lora reference resolves both parts.
func (p *Pool) resolve(m string) string {
	if a, l, ok := strings.Cut(m, "+"); ok {
		return p.resolve(a) + "+" + p.resolve(l)
	}
	if filepath.IsAbs(m) || p.Dir == "" {
		return m
	}
	c := filepath.Join(p.Dir, m)
	if _, err := os.Stat(c); err == nil {
		if abs, err := filepath.Abs(c); err == nil {
			return abs
		}
	}
	return m
}

// nearest returns the candidate within edit distance 2 of s (or sharing a
// prefix of 4), "" if none.
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editdist.Distance(s, c)
		if d < bestD || (bestD > 2 && len(s) >= 4 && strings.HasPrefix(c, s[:4])) {
			best, bestD = c, min(d, 2)
		}
	}
	return best
}

// quote writes s as a YAML scalar.
func quote(s string) string {
	b, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(b), "\n")
}
