package evolve

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/worker"
)

// Config is a mergekit-evolve configuration (mergekit's
// EvolMergeConfiguration): the genome to search and the tasks that score
// its candidates.
type Config struct {
	Genome Genome
	// Tasks are the weighted tasks; a bare name in the YAML is weight 1
	// and metric "acc,none".
	Tasks []worker.Task
	// Limit caps the documents of each task (nil: all).
	Limit *int
	// NumFewshot overrides the tasks' few-shot count when set.
	NumFewshot *int
	// Shuffle, ApplyChatTemplate and FewshotAsMultiturn are read for
	// compatibility; the embedded evaluator has no use for them.
	Shuffle, ApplyChatTemplate, FewshotAsMultiturn bool
	// RandomInit starts the search from U[0,1) genes instead of equal
	// weights and full density.
	RandomInit bool
	// File names the config in errors.
	File string
	// Raw is the YAML as read.
	Raw []byte
	// Warnings note keys that were ignored, each starting with FILE:LINE.
	Warnings []string
}

// Genome is mergekit's ModelGenomeDefinition: which models are merged
// with which method, and how finely the search may vary the parameters.
type Genome struct {
	// Models are the models merged, written back into every candidate
	// config as given.
	Models []Model
	// MergeMethod is linear, task_arithmetic, ties, dare_ties or slerp.
	MergeMethod string
	// BaseModel is required by ties, dare_ties and task_arithmetic.
	BaseModel *Model
	// TokenizerSource is passed through to the merge config ("" = unset).
	TokenizerSource string
	// LayerGranularity is the layers per group; 0 is one group for all.
	LayerGranularity int
	// Normalize is the merge's normalize parameter; nil resolves to true
	// for linear, ties and dare_ties.
	Normalize *bool
	// AllowNegativeWeights keeps the sign of weight and t genes.
	AllowNegativeWeights bool
	// Filters are tensor-name filters, each with its own parameter set.
	Filters []string
	// Smooth emits per-group gradients over all layers instead of slices.
	Smooth bool
}

// Model is a model reference of the genome: the YAML as written (a string
// or mergekit's dict form) and what it parses to.
type Model struct {
	Node *yaml.Node
	Ref  merge.ModelRef
}

// methodParams lists each method's genes per model and filter set
// (mergekit's METHOD_PARAM_MAPS).
var methodParams = map[string][]string{
	"linear":          {"weight"},
	"task_arithmetic": {"weight"},
	"ties":            {"weight", "density"},
	"dare_ties":       {"weight", "density"},
	"slerp":           {"t"},
}

// naughtyPrefixes are mergekit's common benchmark task prefixes.
var naughtyPrefixes = []string{"mmlu", "hendrycks", "agieval", "gsm8k", "hellaswag", "winogrande",
	"arc_", "ai2_arc", "truthfulqa", "bigbench", "piqa", "openbookqa", "leaderboard"}

// ErrNaughtyTask is matched (errors.Is) by the error CheckTasks returns for
// a task that is a common benchmark's test set.
var ErrNaughtyTask = errors.New("common benchmark task")

// CheckTasks applies mergekit's guard against optimising on benchmark test
// sets: a task named with a common benchmark's prefix (mmlu, arc_,
// hellaswag, …), unless it ends in "_train", is an error, or only a
// warning returned in warnings when allow is set (mergekit's
// --i-understand-the-depths-of-the-evils-i-am-unleashing). The match is a
// plain prefix, as in mergekit: arc_challenge_m_de and hellaswag_de are
// caught too.
func (c *Config) CheckTasks(allow bool) (warnings []string, err error) {
	for _, t := range c.Tasks {
		for _, p := range naughtyPrefixes {
			if !strings.HasPrefix(t.Name, p) || strings.HasSuffix(t.Name, "_train") {
				continue
			}
			msg := fmt.Sprintf("task %s is a common benchmark task; optimizing against it directly is unsporting at best and outright malicious at worst", t.Name)
			if !allow {
				return warnings, fmt.Errorf("%w: %s (set --i-understand-the-depths-of-the-evils-i-am-unleashing to proceed)", ErrNaughtyTask, msg)
			}
			warnings = append(warnings, msg)
			break
		}
	}
	return warnings, nil
}

// LoadConfig reads and parses a mergekit-evolve config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data, path)
}

// rawConfig and rawGenome are the YAML shapes; nodes keep line numbers
// for the checks that follow decoding.
type rawConfig struct {
	Genome             yaml.Node   `yaml:"genome"`
	Tasks              []yaml.Node `yaml:"tasks"`
	Limit              *int        `yaml:"limit"`
	NumFewshot         *int        `yaml:"num_fewshot"`
	Shuffle            bool        `yaml:"shuffle"`
	RandomInit         bool        `yaml:"random_init"`
	ApplyChatTemplate  *bool       `yaml:"apply_chat_template"`
	FewshotAsMultiturn *bool       `yaml:"fewshot_as_multiturn"`
}

type rawGenome struct {
	Models               []yaml.Node `yaml:"models"`
	MergeMethod          yaml.Node   `yaml:"merge_method"`
	BaseModel            yaml.Node   `yaml:"base_model"`
	TokenizerSource      *string     `yaml:"tokenizer_source"`
	LayerGranularity     yaml.Node   `yaml:"layer_granularity"`
	Normalize            *bool       `yaml:"normalize"`
	AllowNegativeWeights bool        `yaml:"allow_negative_weights"`
	Filters              []string    `yaml:"filters"`
	Smooth               bool        `yaml:"smooth"`
}

var (
	configKeys = []string{"genome", "tasks", "limit", "num_fewshot", "shuffle", "random_init",
		"apply_chat_template", "fewshot_as_multiturn"}
	genomeKeys = []string{"models", "merge_method", "base_model", "tokenizer_source", "layer_granularity",
		"normalize", "allow_negative_weights", "filters", "smooth"}
)

// ParseConfig parses a mergekit-evolve config; file names it in errors,
// which give the YAML line.
func ParseConfig(data []byte, file string) (cfg *Config, err error) {
	defer func() {
		// yaml is third-party code; its panics must not crash a run.
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("%s: invalid YAML: %v", file, r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: the config must be a mapping with genome and tasks", file)
	}
	root := doc.Content[0]
	var raw rawConfig
	if err := root.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	c := &Config{File: file, Raw: bytes.Clone(data), Shuffle: raw.Shuffle, RandomInit: raw.RandomInit,
		Limit: raw.Limit, NumFewshot: raw.NumFewshot, ApplyChatTemplate: true, FewshotAsMultiturn: true}
	if raw.ApplyChatTemplate != nil {
		c.ApplyChatTemplate = *raw.ApplyChatTemplate
	}
	if raw.FewshotAsMultiturn != nil {
		c.FewshotAsMultiturn = *raw.FewshotAsMultiturn
	}
	errorf := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", file, n.Line, fmt.Sprintf(format, args...))
	}
	c.Warnings = unknownKeys(file, root, configKeys, "")
	if raw.Genome.Kind != yaml.MappingNode {
		return nil, errorf(root, "genome is required and must be a mapping")
	}
	c.Warnings = append(c.Warnings, unknownKeys(file, &raw.Genome, genomeKeys, "genome.")...)
	if c.Limit != nil && *c.Limit < 0 {
		return nil, errorf(root, "limit must not be negative")
	}
	if c.NumFewshot != nil && *c.NumFewshot < 0 {
		return nil, errorf(root, "num_fewshot must not be negative")
	}
	if len(raw.Tasks) == 0 {
		return nil, errorf(root, "tasks must list at least one task")
	}
	for i := range raw.Tasks {
		t, err := parseTask(&raw.Tasks[i])
		if err != nil {
			return nil, errorf(&raw.Tasks[i], "tasks[%d]: %v", i, err)
		}
		c.Tasks = append(c.Tasks, t)
	}
	if c.Genome, err = parseGenome(&raw.Genome, errorf); err != nil {
		return nil, err
	}
	if g := &c.Genome; g.MergeMethod == "slerp" && g.separateBase() {
		// mergekit adds such a base as a third source of every slice,
		// which slerp refuses; the config is still read as mergekit reads
		// it.
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%d: genome.base_model %s is not one of the models: slerp candidates get it as a third source and cannot be merged; list it among the models or leave it out",
			file, raw.Genome.Line, g.BaseModel.Ref))
	}
	return c, nil
}

func parseTask(n *yaml.Node) (worker.Task, error) {
	t := worker.Task{Weight: 1, Metric: "acc,none"}
	if n.Kind == yaml.ScalarNode {
		t.Name = n.Value
	} else {
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
	}
	if t.Name == "" {
		return t, errors.New("a task needs a name")
	}
	if t.Metric == "" {
		return t, fmt.Errorf("task %s: empty metric", t.Name)
	}
	return t, nil
}

func parseGenome(n *yaml.Node, errorf func(*yaml.Node, string, ...any) error) (Genome, error) {
	var raw rawGenome
	if err := n.Decode(&raw); err != nil {
		return Genome{}, errorf(n, "genome: %v", err)
	}
	g := Genome{MergeMethod: raw.MergeMethod.Value, Normalize: raw.Normalize,
		AllowNegativeWeights: raw.AllowNegativeWeights, Filters: raw.Filters, Smooth: raw.Smooth}
	if raw.TokenizerSource != nil {
		g.TokenizerSource = *raw.TokenizerSource
	}
	if raw.MergeMethod.Kind == 0 {
		return g, errorf(n, "genome.merge_method is required")
	}
	if _, ok := methodParams[g.MergeMethod]; !ok {
		return g, errorf(&raw.MergeMethod, "genome.merge_method %q: must be one of linear, task_arithmetic, ties, dare_ties, slerp", g.MergeMethod)
	}
	if raw.LayerGranularity.Kind != 0 {
		if err := raw.LayerGranularity.Decode(&g.LayerGranularity); err != nil {
			return g, errorf(&raw.LayerGranularity, "genome.layer_granularity: %v", err)
		}
		if g.LayerGranularity < 0 {
			return g, errorf(&raw.LayerGranularity, "genome.layer_granularity must not be negative")
		}
	}
	if len(raw.Models) == 0 {
		return g, errorf(n, "genome.models must list at least one model")
	}
	nodes := make([]*yaml.Node, 0, len(raw.Models)+1)
	for i := range raw.Models {
		nodes = append(nodes, &raw.Models[i])
	}
	if raw.BaseModel.Kind != 0 && raw.BaseModel.Tag != "!!null" {
		nodes = append(nodes, &raw.BaseModel)
	}
	refs, err := parseModelRefs(nodes)
	if err != nil {
		return g, errorf(n, "genome: %v", err)
	}
	for i := range raw.Models {
		g.Models = append(g.Models, Model{Node: &raw.Models[i], Ref: refs[i]})
	}
	if len(nodes) > len(raw.Models) {
		g.BaseModel = &Model{Node: &raw.BaseModel, Ref: refs[len(refs)-1]}
	}
	switch g.MergeMethod {
	case "ties", "dare_ties", "task_arithmetic":
		if g.BaseModel == nil {
			return g, errorf(&raw.MergeMethod, "genome: base_model is required for %s", g.MergeMethod)
		}
	case "slerp":
		if g.Smooth {
			return g, errorf(n, "genome: smooth is not supported for slerp")
		}
		if len(g.Filters) > 0 {
			return g, errorf(n, "genome: tensor name filtering is not supported for slerp")
		}
		if len(g.Models) < 2 {
			return g, errorf(n, "genome: slerp needs at least two models")
		}
	}
	if slices.Contains(g.Filters, "") {
		return g, errorf(n, "genome.filters: a filter must not be empty")
	}
	return g, nil
}

// parseModelRefs reads model references the way merge configs do, by
// parsing them as the models of a one-off merge config, so that the
// string and dict forms mean what they mean to gomerge's merges.
func parseModelRefs(nodes []*yaml.Node) ([]merge.ModelRef, error) {
	models := &yaml.Node{Kind: yaml.SequenceNode}
	for _, n := range nodes {
		models.Content = append(models.Content, mapping("model", n))
	}
	doc := mapping("merge_method", str("passthrough"), "models", models)
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	cfg, err := merge.ParseConfig(data, "genome models")
	if err != nil {
		var ce *merge.ConfigError
		if errors.As(err, &ce) {
			return nil, errors.New(ce.Msg)
		}
		return nil, err
	}
	refs := make([]merge.ModelRef, len(cfg.Models))
	for i, m := range cfg.Models {
		refs[i] = m.Model
		refs[i].Pos = merge.Pos{}
	}
	return refs, nil
}

// unknownKeys warns about keys mergekit would ignore.
func unknownKeys(file string, m *yaml.Node, known []string, prefix string) []string {
	var w []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if !slices.Contains(known, k.Value) {
			w = append(w, fmt.Sprintf("%s:%d: unknown key %s%s ignored", file, k.Line, prefix, k.Value))
		}
	}
	return w
}
