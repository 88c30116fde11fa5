package kraken

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/safetensors"
)

// Directory names inside a built Kraken.
const (
	// ModelDir holds config.json (with config_dict and auto_map),
	// generation_config.json and the router's weights, as the original's
	// save notebook writes them; the remote-code files go here too.
	ModelDir = "kraken_model"
	// RouterDir holds the router classifier, as the original ships it.
	RouterDir = "kraken_router"
	// ExpertsDir holds copied experts (BuildOptions.CopyExperts), one
	// directory per key.
	ExpertsDir = "experts"
)

// BuildOptions configure Build.
type BuildOptions struct {
	WriteOptions
	// CopyExperts copies every local expert (model, tokenizer, adapter)
	// into OUT/experts/KEY and points config_dict at the copy. Without
	// it, experts are referenced as the original does: local directories
	// by absolute path, anything else (a Hugging Face id) verbatim.
	CopyExperts bool
	// Dir is the directory relative paths in the config are read from
	// (the config file's); empty means the working directory.
	Dir string
}

// BuildResult says what Build wrote.
type BuildResult struct {
	Out      string            `json:"out"`
	LoRA     bool              `json:"lora"`
	Router   string            `json:"router"`
	Labels   []string          `json:"labels"`
	Experts  map[string]string `json:"experts"` // key → as written in config_dict
	Copied   []string          `json:"copied,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
}

// localDir resolves a config path against dir and reports whether it is
// an existing directory.
func localDir(dir, p string) (string, bool) {
	if p == "" {
		return "", false
	}
	q := p
	if !filepath.IsAbs(q) {
		q = filepath.Join(dir, p)
	}
	if st, err := os.Stat(q); err == nil && st.IsDir() {
		abs, err := filepath.Abs(q)
		if err == nil {
			return abs, true
		}
	}
	return "", false
}

// Build writes a Kraken directory into out from a validated config:
//
//	OUT/kraken_model/config.json            config_dict, architectures, auto_map, model_type, torch_dtype
//	OUT/kraken_model/generation_config.json
//	OUT/kraken_model/model.safetensors      the router's weights under router_model., as save_pretrained writes them
//	OUT/kraken_router/                      the router classifier and its tokenizer
//	OUT/experts/KEY/                        with CopyExperts only
//
// The router must be a local sequence-classifier directory, and each of
// its labels must be in class_indices (the original fails on a label it
// cannot map). config_dict.router becomes "kraken_router", relative to
// OUT: run Python from OUT, as the original's notebooks run from theirs.
func Build(c *Config, out string, opt BuildOptions) (*BuildResult, error) {
	log := opt.logger()
	warnings, err := c.Validate()
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	router, ok := localDir(opt.Dir, c.Router)
	if !ok {
		return nil, fmt.Errorf("%w: router %q is not a local directory: Build copies the router into OUT, so download the classifier first (e.g. huggingface-cli download %s --local-dir ./router) and set \"router\" to that directory", ErrConfig, c.Router, c.Router)
	}
	labels, dtype, err := routerInfo(router)
	if err != nil {
		return nil, err
	}
	for _, l := range labels {
		if _, ok := c.ClassIndices[l]; !ok {
			return nil, fmt.Errorf("%w: the router %s has label %q, which class_indices does not map (have %q)",
				ErrConfig, router, l, slices.Sorted(maps.Keys(c.ClassIndices)))
		}
	}
	for _, l := range slices.Sorted(maps.Keys(c.ClassIndices)) {
		if !slices.Contains(labels, l) {
			warnings = append(warnings, fmt.Sprintf("class_indices[%q]: the router has no such label (its labels: %q)", l, labels))
			log.Warn(warnings[len(warnings)-1])
		}
	}
	res := &BuildResult{Out: out, LoRA: c.IsLoRA(), Router: router, Labels: labels, Experts: map[string]string{}, Warnings: warnings}
	inputs := []string{router}
	d := c.clone()
	type copyJob struct{ src, dst string }
	var copies []copyJob
	copied := map[string]string{} // source dir → path in OUT
	rewrite := func(m map[string]string, key string) error {
		v := m[key]
		p, ok := localDir(opt.Dir, v)
		if !ok {
			if opt.CopyExperts {
				return fmt.Errorf("%w: %s %q is not a local directory, so it cannot be copied", ErrConfig, key, v)
			}
			return nil
		}
		inputs = append(inputs, p)
		if !opt.CopyExperts {
			m[key] = p
			return nil
		}
		if dst, ok := copied[p]; ok {
			m[key] = dst
			return nil
		}
		dst := filepath.ToSlash(filepath.Join(ExpertsDir, key))
		copied[p] = dst
		copies = append(copies, copyJob{p, dst})
		m[key] = dst
		return nil
	}
	// Models (or adapters) first, so that a tokenizer in the same
	// directory shares the copy.
	for _, group := range []map[string]string{d.Models, d.LoraAdapters, d.Tokenizers} {
		for _, key := range slices.Sorted(maps.Keys(group)) {
			if err := rewrite(group, key); err != nil {
				return nil, err
			}
		}
	}
	d.Router = RouterDir
	o, err := outdir.Create(out, outdir.Options{Inputs: inputs, Overwrite: opt.Overwrite, Tool: toolName(opt.Tool, "gomerge kraken"), Version: opt.Version, Logger: log})
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			o.Abort()
		}
	}()
	if err := copyDir(router, o.Path(RouterDir)); err != nil {
		return nil, err
	}
	for _, j := range copies {
		log.Info("copying expert", "from", j.src, "to", j.dst)
		if err := copyDir(j.src, o.Path(j.dst)); err != nil {
			return nil, err
		}
		res.Copied = append(res.Copied, j.dst)
	}
	if err := os.MkdirAll(o.Path(ModelDir), 0o755); err != nil {
		return nil, err
	}
	cfgJSON, err := modelConfig(d, dtype)
	if err != nil {
		return nil, err
	}
	if err := o.WriteFile(filepath.Join(ModelDir, "config.json"), cfgJSON); err != nil {
		return nil, err
	}
	gen := []byte("{\n  \"_from_model_config\": true,\n  \"transformers_version\": \"" + transformersVersion + "\"\n}\n")
	if err := o.WriteFile(filepath.Join(ModelDir, "generation_config.json"), gen); err != nil {
		return nil, err
	}
	src, err := safetensors.OpenModel(router)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// The original's KrakenForCausalLM registers the classifier as
	// router_model; its experts live in plain dicts and are not saved.
	if err := copyTensors(o.Path(ModelDir), src, "router_model.", func(string) bool { return true }, nil); err != nil {
		return nil, fmt.Errorf("write %s weights: %w", ModelDir, err)
	}
	if err := o.Commit(); err != nil {
		return nil, err
	}
	committed = true
	experts := d.Models
	if d.IsLoRA() {
		experts = d.LoraAdapters
	}
	maps.Copy(res.Experts, experts)
	return res, nil
}

func toolName(t, def string) string {
	if t == "" {
		return def
	}
	return t
}

// transformersVersion is the version written where transformers records
// its own: the one the original Kraken was saved with.
const transformersVersion = "4.41.0"

// modelConfig is kraken_model/config.json.
func modelConfig(c *Config, dtype string) ([]byte, error) {
	conf, modeling := "configuration_kraken", "modeling_kraken"
	if c.IsLoRA() {
		conf, modeling = "configuration_kraken_lora", "modeling_kraken_lora"
	}
	cfg := map[string]any{
		"architectures": []string{"KrakenForCausalLM"},
		"auto_map": map[string]string{
			"AutoConfig":           conf + ".KrakenConfig",
			"AutoModel":            modeling + ".KrakenForCausalLM",
			"AutoModelForCausalLM": modeling + ".KrakenForCausalLM",
		},
		"config_dict":          c.dict(),
		"model_type":           "kraken",
		"torch_dtype":          dtype,
		"transformers_version": transformersVersion,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// routerInfo reads the router's labels (id2label, or LABEL_i for
// num_labels) and torch_dtype, and checks that it has a classifier head.
func routerInfo(dir string) ([]string, string, error) {
	p := filepath.Join(dir, "config.json")
	raw, err := regfile.ReadFile(p, regfile.ConfigLimit)
	if err != nil {
		return nil, "", fmt.Errorf("router: %w", err)
	}
	var cfg struct {
		ID2Label  map[string]string `json:"id2label"`
		NumLabels int               `json:"num_labels"`
		DType     string            `json:"torch_dtype"`
		DType5    string            `json:"dtype"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, "", fmt.Errorf("router: %s: %w", p, err)
	}
	labels := make([]string, len(cfg.ID2Label))
	for k, v := range cfg.ID2Label {
		var i int
		if _, err := fmt.Sscan(k, &i); err != nil || i < 0 || i >= len(labels) {
			return nil, "", fmt.Errorf("router: %s: id2label ids must be 0..%d, got %q", p, len(labels)-1, k)
		}
		labels[i] = v
	}
	if len(labels) == 0 {
		for i := range cfg.NumLabels {
			labels = append(labels, fmt.Sprintf("LABEL_%d", i))
		}
	}
	if len(labels) == 0 {
		return nil, "", fmt.Errorf("router: %s has neither id2label nor num_labels: not a sequence classifier", p)
	}
	src, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, "", fmt.Errorf("router: %w", err)
	}
	defer src.Close()
	if _, ok := src.Tensor("score.weight"); !ok {
		return nil, "", fmt.Errorf("router: %s has no score.weight: not a *ForSequenceClassification checkpoint", dir)
	}
	dtype := cfg.DType
	if dtype == "" {
		dtype = cfg.DType5
	}
	if dtype == "" {
		dtype = "float32"
	}
	return labels, dtype, nil
}
