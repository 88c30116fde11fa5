package merge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ParseMultiConfig parses a multi-stage config (mergekit-multi): several
// YAML documents, each a merge config with an optional name. A model
// reference whose path is another stage's name refers to that stage's
// output. Errors name the file, line and column.
func ParseMultiConfig(data []byte, file string) ([]*Config, error) {
	if err := cfgCheckSize(data, file); err != nil {
		return nil, err
	}
	var docs []*yaml.Node
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = &ConfigError{File: file, Msg: fmt.Sprintf("invalid YAML: %v", r)}
			}
		}()
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				p := &cfgParser{file: file}
				return p.yamlError(err)
			}
			if len(doc.Content) == 1 && cfgIsNull(doc.Content[0]) {
				continue
			}
			docs = append(docs, &doc)
		}
	}()
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, &ConfigError{File: file, Msg: "empty config"}
	}
	var out []*Config
	for _, doc := range docs {
		p := &cfgParser{file: file, flat: map[*yaml.Node][]cfgPair{}, flattening: map[*yaml.Node]bool{}, warned: map[string]bool{}}
		root := cfgDeref(doc.Content[0])
		cfg, err := p.config(root)
		if err != nil {
			return nil, err
		}
		cfg.File, cfg.Warnings = file, p.warnings
		cfg.Raw, err = stageYAML(root)
		if err != nil {
			return nil, &ConfigError{File: file, Pos: cfgPos(root), Msg: err.Error()}
		}
		out = append(out, cfg)
	}
	return out, nil
}

// stageYAML is one stage's config without its name:, for
// mergekit_config.yml.
func stageYAML(root *yaml.Node) ([]byte, error) {
	n := *root
	if n.Kind == yaml.MappingNode {
		n.Content = nil
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "name" {
				continue
			}
			n.Content = append(n.Content, root.Content[i], root.Content[i+1])
		}
	}
	return yaml.Marshal(&n)
}

// MultiOptions are mergekit-multi's settings besides the merge options.
type MultiOptions struct {
	// IntermediateDir holds the named stages' outputs, one directory each.
	IntermediateDir string
	// OutPath is the unnamed (final) stage's output; required when there
	// is one.
	OutPath string
	// Lazy skips stages whose output already holds config.json and model
	// weights (mergekit's default).
	Lazy bool
	// Stream does not write named stages that exactly one other stage
	// reads: their tensors are merged as that stage reads them.
	Stream bool
}

// StageResult is what happened to one stage.
type StageResult struct {
	Name    string `json:"name"`
	Out     string `json:"out"`
	Skipped bool   `json:"skipped"`
	// Streamed stages were merged into the stage reading them, unwritten.
	Streamed bool    `json:"streamed,omitempty"`
	Result   *Result `json:"result,omitempty"`
}

// RunMulti runs the stages of a multi-stage config in dependency order,
// each with opt, and reports each stage.
func RunMulti(ctx context.Context, stages []*Config, mo MultiOptions, opt Options) ([]StageResult, error) {
	// Stage references resolve against opt.Dir; outputs against the
	// working directory: make the intermediate directory absolute.
	if mo.IntermediateDir == "" {
		return nil, errors.New("multi: an intermediate directory is required")
	}
	dir, err := filepath.Abs(mo.IntermediateDir)
	if err != nil {
		return nil, fmt.Errorf("multi: %w", err)
	}
	mo.IntermediateDir = dir
	order, outs, uses, err := planStages(stages, mo)
	if err != nil {
		return nil, err
	}
	virtual := map[string]*Plan{}
	defer func() {
		for _, pl := range virtual {
			pl.Close()
		}
	}()
	// One seed for every stage, streamed or written.
	opt = opt.withSeed(nil)
	opt.Virtual, opt.VirtualOptions = virtual, &opt
	if err := os.MkdirAll(mo.IntermediateDir, 0o755); err != nil {
		return nil, fmt.Errorf("multi: %w", err)
	}
	var res []StageResult
	for _, i := range order {
		cfg := stages[i]
		r := StageResult{Name: cfg.Name, Out: outs[i]}
		if r.Name == "" {
			r.Name = "final merge"
		}
		if mo.Stream && cfg.Name != "" && uses[i] == 1 && !(mo.Lazy && modelComplete(outs[i])) {
			pl, err := NewPlanContext(ctx, cfg, opt.PlanOptions)
			if err != nil {
				return res, fmt.Errorf("stage %s: %w", r.Name, err)
			}
			virtual[outs[i]] = pl
			r.Streamed = true
			res = append(res, r)
			continue
		}
		if mo.Lazy && modelComplete(outs[i]) {
			r.Skipped = true
			if opt.Logger != nil {
				opt.Logger.Info("stage output exists, skipping", "stage", r.Name, "out", outs[i])
			}
			res = append(res, r)
			continue
		}
		if opt.Logger != nil {
			opt.Logger.Info("running stage", "stage", r.Name, "out", outs[i])
		}
		out, err := Run(ctx, cfg, outs[i], opt)
		if err != nil {
			return res, fmt.Errorf("stage %s: %w", r.Name, err)
		}
		r.Result = out
		res = append(res, r)
	}
	return res, nil
}

// planStages checks names, points references to other stages at their
// outputs, and orders the stages so that each runs after those it reads.
func planStages(stages []*Config, mo MultiOptions) (order []int, outs []string, uses []int, err error) {
	byName := map[string]int{}
	final := -1
	for i, c := range stages {
		if c.Name == "" {
			if final >= 0 {
				return nil, nil, nil, fmt.Errorf("%s: more than one stage has no name; only the final merge may be unnamed", c.File)
			}
			final = i
			continue
		}
		if strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == ".." {
			return nil, nil, nil, fmt.Errorf("%s: stage name %q must be a plain directory name", c.File, c.Name)
		}
		if j, dup := byName[c.Name]; dup {
			return nil, nil, nil, fmt.Errorf("%s: two stages are named %q (documents %d and %d)", c.File, c.Name, j+1, i+1)
		}
		byName[c.Name] = i
	}
	if final >= 0 && mo.OutPath == "" {
		return nil, nil, nil, errors.New("multi: --out-path is required when the config has an unnamed final merge")
	}
	outs = make([]string, len(stages))
	uses = make([]int, len(stages))
	deps := make([][]int, len(stages))
	for i, c := range stages {
		if c.Name == "" {
			outs[i] = mo.OutPath
		} else {
			outs[i] = filepath.Join(mo.IntermediateDir, c.Name)
		}
		for _, r := range c.modelRefs() {
			j, ok := byName[r.Path]
			if !ok {
				continue
			}
			if j == i {
				return nil, nil, nil, fmt.Errorf("%s: stage %q reads its own output", c.File, c.Name)
			}
			r.Path = filepath.Join(mo.IntermediateDir, stages[j].Name)
			if !slices.Contains(deps[i], j) {
				deps[i] = append(deps[i], j)
				uses[j]++
			}
		}
	}
	state := make([]int, len(stages)) // 0 new, 1 visiting, 2 done
	var visit func(i int, path []string) error
	visit = func(i int, path []string) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("multi: circular dependency: %s", strings.Join(append(path, stages[i].Name), " -> "))
		case 2:
			return nil
		}
		state[i] = 1
		for _, j := range deps[i] {
			if err := visit(j, append(path, stages[i].Name)); err != nil {
				return err
			}
		}
		state[i] = 2
		order = append(order, i)
		return nil
	}
	for i := range stages {
		if err := visit(i, nil); err != nil {
			return nil, nil, nil, err
		}
	}
	return order, outs, uses, nil
}

// modelRefs returns pointers to every model reference in the config.
func (c *Config) modelRefs() []*ModelRef {
	var refs []*ModelRef
	add := func(r *ModelRef) {
		if r != nil {
			refs = append(refs, r)
		}
	}
	models := func(ms []InputModel) {
		for i := range ms {
			add(&ms[i].Model)
		}
	}
	slices := func(ss []OutputSlice) {
		for i := range ss {
			add(ss[i].BaseModel)
			for j := range ss[i].Sources {
				add(&ss[i].Sources[j].Model)
			}
		}
	}
	add(c.BaseModel)
	models(c.Models)
	slices(c.Slices)
	for i := range c.Modules {
		models(c.Modules[i].Models)
		slices(c.Modules[i].Slices)
	}
	if c.TokenizerSource != nil {
		add(c.TokenizerSource.Model)
	}
	if c.Tokenizer != nil {
		add(c.Tokenizer.Source.Model)
		for i := range c.Tokenizer.Tokens {
			add(c.Tokenizer.Tokens[i].Source.Model)
		}
	}
	return refs
}

// modelComplete reports whether dir holds a finished model: config.json
// and weights (mergekit-multi's lazy check). gomerge writes outputs
// atomically, so a model directory is never half-written.
func modelComplete(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return false
	}
	for _, f := range []string{"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}
