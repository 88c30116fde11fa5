package moe

import (
	"github.com/gomerge/gomerge/internal/regfile"

	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/tensor"
)

// GateMode is how router weights are made (mergekit-moe's gate_mode).
type GateMode string

// The gate modes. Hidden and HiddenAvg run the base model over the
// prompts; CheapEmbed sums the prompts' token embeddings; Random and
// UniformRandom draw seeded random numbers.
const (
	Hidden        GateMode = "hidden"
	HiddenAvg     GateMode = "hidden_avg"
	CheapEmbed    GateMode = "cheap_embed"
	Random        GateMode = "random"
	UniformRandom GateMode = "uniform_random"
)

// usesPrompts reports whether the mode builds gates from prompts.
func (g GateMode) usesPrompts() bool { return g == Hidden || g == HiddenAvg || g == CheapEmbed }

// random reports whether the mode draws random gates.
func (g GateMode) random() bool { return g == Random || g == UniformRandom }

// Config is a parsed mergekit-moe configuration (MoEMergeConfig).
// Parsing checks its shape and mergekit's validation rules that need no
// model; NewPlan checks it against the models.
type Config struct {
	// File is the path given to LoadConfig (or the name given to ParseConfig).
	File string
	// Raw is the original YAML, written verbatim to mergekit_moe_config.yml.
	Raw []byte
	// BaseModel donates every non-MLP tensor, the tokenizer and the
	// hidden states.
	BaseModel merge.ModelRef
	// Experts are the routed experts; expert j is Experts[j].
	Experts []Expert
	// SharedExperts are the always-active experts (at most one).
	SharedExperts []Expert
	// GateMode is the router construction; hidden_last reads as Hidden.
	GateMode    GateMode
	GateModePos merge.Pos
	// DType is the output dtype; Invalid means the base's torch_dtype.
	DType tensor.DType
	// ExpertsPerToken is num_experts_per_tok (default 2).
	ExpertsPerToken int
	// Architecture is the architecture: key, a case-insensitive prefix of
	// an output architecture's name ("mixtral", "qwen", "deepseek", ...).
	Architecture    string
	ArchitecturePos merge.Pos
	// Warnings are non-fatal problems found while parsing.
	Warnings []string
}

// Expert is an entry of experts: or shared_experts:.
type Expert struct {
	SourceModel     merge.ModelRef
	PositivePrompts []string
	NegativePrompts []string
	// NoiseScale, when non-zero, adds Gaussian noise of that standard
	// deviation to the expert's MLP tensors (seeded by --random-seed).
	NoiseScale float64
	// ResidualScale, when set, multiplies the expert's down_proj.
	ResidualScale *float64
	// Pos is where the entry starts in the config.
	Pos merge.Pos
}

// LoadConfig reads and parses a mergekit-moe config file.
func LoadConfig(path string) (*Config, error) {
	data, err := regfile.ReadFile(path, regfile.ConfigLimit)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data, path)
}

// ParseConfig parses a mergekit-moe YAML configuration; file names it in
// errors. Errors are *merge.ConfigError values naming the line. Like
// mergekit's safe_load, it resolves anchors and aliases and rejects
// application tags such as !file; unknown keys are ignored with a warning.
func ParseConfig(data []byte, file string) (cfg *Config, err error) {
	p := &parser{file: file}
	defer func() {
		// The YAML library is third-party code; its panics must not reach
		// the user as crashes.
		if r := recover(); r != nil {
			cfg, err = nil, &merge.ConfigError{File: file, Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &merge.ConfigError{File: file, Msg: "empty config"}
		}
		return nil, p.yamlError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	cfg, err = p.config(deref(root))
	if err != nil {
		return nil, err
	}
	cfg.File, cfg.Raw, cfg.Warnings = file, bytes.Clone(data), p.warnings
	return cfg, nil
}

type parser struct {
	file     string
	warnings []string
}

func pos(n *yaml.Node) merge.Pos {
	if n == nil {
		return merge.Pos{}
	}
	return merge.Pos{Line: n.Line, Column: n.Column}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) error {
	return &merge.ConfigError{File: p.file, Pos: pos(n), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) warnf(n *yaml.Node, format string, args ...any) {
	p.warnings = append(p.warnings, p.errorf(n, format, args...).Error())
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

func (p *parser) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var at merge.Pos
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		at.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	return &merge.ConfigError{File: p.file, Pos: at, Msg: "invalid YAML: " + msg}
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// checkTag rejects the application tags safe_load cannot construct.
func (p *parser) checkTag(n *yaml.Node) error {
	if t := n.Tag; strings.HasPrefix(t, "!") && !strings.HasPrefix(t, "!!") {
		return p.errorf(n, "YAML tag %s is not supported (mergekit reads configs with safe_load, which rejects it); write the value inline", t)
	}
	return nil
}

type pair struct{ key, val *yaml.Node }

// mapping returns a mapping's pairs, later duplicates winning as in a
// Python dict, and merge keys (<<) expanded with explicit keys winning.
func (p *parser) mapping(n *yaml.Node, what string) ([]pair, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
	}
	var merged, explicit []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			sub, err := p.mapping(v, "a merge key (<<)")
			if err != nil {
				return nil, err
			}
			merged = append(merged, sub...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, p.errorf(k, "a key must be a string, not %s", kindName(k))
		}
		explicit = append(explicit, pair{k, v})
	}
	at := map[string]int{}
	var out []pair
	for _, kv := range append(merged, explicit...) {
		if i, ok := at[kv.key.Value]; ok {
			out[i] = kv
			continue
		}
		at[kv.key.Value] = len(out)
		out = append(out, kv)
	}
	return out, nil
}

func (p *parser) str(n *yaml.Node, what string) (string, error) {
	n = deref(n)
	if err := p.checkTag(n); err != nil {
		return "", err
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return "", p.errorf(n, "%s must be a string, not %s", what, kindName(n))
	}
	return n.Value, nil
}

func (p *parser) number(n *yaml.Node, what string) (float64, error) {
	n = deref(n)
	if err := p.checkTag(n); err != nil {
		return 0, err
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int", "!!float":
			var v float64
			if err := n.Decode(&v); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
				return v, nil
			}
		case "!!str":
			if v, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
				p.warnf(n, "%s: string %q read as a number", what, n.Value)
				return v, nil
			}
		}
	}
	return 0, p.errorf(n, "%s: %s is not a finite number", what, kindName(n))
}

func (p *parser) integer(n *yaml.Node, what string) (int, error) {
	v, err := p.number(n, what)
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) || math.Abs(v) > 1<<31 {
		return 0, p.errorf(n, "%s: %v is not an integer", what, v)
	}
	return int(v), nil
}

// strings reads a list of strings; null is an empty list and, as pydantic
// would not, a single string is refused rather than split.
func (p *parser) strings(n *yaml.Node, what string) ([]string, error) {
	n = deref(n)
	if err := p.checkTag(n); err != nil {
		return nil, err
	}
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, "%s must be a list of strings, not %s", what, kindName(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		s, err := p.str(c, what+" entry")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) modelRef(n *yaml.Node, what string) (merge.ModelRef, error) {
	s, err := p.str(n, what)
	if err != nil {
		return merge.ModelRef{}, err
	}
	r, err := merge.ParseModelRef(s)
	if err != nil {
		return merge.ModelRef{}, p.errorf(n, "%s: %v", what, err)
	}
	r.Pos = pos(deref(n))
	return r, nil
}

func (p *parser) config(root *yaml.Node) (*Config, error) {
	pairs, err := p.mapping(root, "the config")
	if err != nil {
		return nil, err
	}
	cfg := &Config{GateMode: Hidden, ExpertsPerToken: 2}
	var baseNode, expertsNode, eptNode *yaml.Node
	for _, kv := range pairs {
		k, v := kv.key, kv.val
		switch k.Value {
		case "base_model":
			baseNode = v
			cfg.BaseModel, err = p.modelRef(v, "base_model")
		case "experts":
			expertsNode = k
			cfg.Experts, err = p.experts(v, "experts")
		case "shared_experts":
			if !isNull(v) {
				cfg.SharedExperts, err = p.experts(v, "shared_experts")
			}
		case "gate_mode":
			var s string
			if s, err = p.str(v, "gate_mode"); err == nil {
				cfg.GateModePos = pos(deref(v))
				switch GateMode(s) {
				case Hidden, "hidden_last":
					cfg.GateMode = Hidden
				case HiddenAvg, CheapEmbed, Random, UniformRandom:
					cfg.GateMode = GateMode(s)
				default:
					err = p.errorf(v, "gate_mode %q is not one of hidden, hidden_last, hidden_avg, cheap_embed, random, uniform_random", s)
				}
			}
		case "dtype":
			if !isNull(v) {
				var s string
				if s, err = p.str(v, "dtype"); err == nil {
					if cfg.DType, err = tensor.ParseTorchDType(s); err != nil || !cfg.DType.IsFloat() {
						err = p.errorf(v, "dtype %q is not one of bfloat16, float16, float32", s)
					}
				}
			}
		case "experts_per_token":
			eptNode = v
			cfg.ExpertsPerToken, err = p.integer(v, "experts_per_token")
		case "architecture":
			if !isNull(v) {
				cfg.Architecture, err = p.str(v, "architecture")
				cfg.ArchitecturePos = pos(deref(v))
			}
		default:
			p.warnf(k, "unknown key %q ignored", k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if baseNode == nil {
		return nil, p.errorf(root, "base_model is required")
	}
	if expertsNode == nil || len(cfg.Experts) == 0 {
		return nil, p.errorf(orNode(expertsNode, root), "experts must list at least one expert")
	}
	return cfg, p.validate(cfg, expertsNode, eptNode)
}

func orNode(n, def *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return def
}

func (p *parser) experts(n *yaml.Node, what string) ([]Expert, error) {
	n = deref(n)
	if err := p.checkTag(n); err != nil {
		return nil, err
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, "%s must be a list, not %s", what, kindName(n))
	}
	var out []Expert
	for i, it := range n.Content {
		it = deref(it)
		item := fmt.Sprintf("%s[%d]", what, i)
		pairs, err := p.mapping(it, item)
		if err != nil {
			return nil, err
		}
		e := Expert{Pos: pos(it)}
		seenModel := false
		for _, kv := range pairs {
			switch kv.key.Value {
			case "source_model":
				seenModel = true
				e.SourceModel, err = p.modelRef(kv.val, item+".source_model")
			case "positive_prompts":
				e.PositivePrompts, err = p.strings(kv.val, item+".positive_prompts")
			case "negative_prompts":
				e.NegativePrompts, err = p.strings(kv.val, item+".negative_prompts")
			case "noise_scale":
				if !isNull(kv.val) {
					e.NoiseScale, err = p.number(kv.val, item+".noise_scale")
					if err == nil && e.NoiseScale < 0 {
						err = p.errorf(kv.val, "%s.noise_scale must not be negative", item)
					}
				}
			case "residual_scale":
				if !isNull(kv.val) {
					var v float64
					v, err = p.number(kv.val, item+".residual_scale")
					e.ResidualScale = &v
				}
			default:
				p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		if !seenModel {
			return nil, p.errorf(it, "%s needs a source_model", item)
		}
		out = append(out, e)
	}
	return out, nil
}

// validate applies mergekit's is_bad_config rules that need no flag and no
// model, naming the line of the offending entry.
func (p *parser) validate(cfg *Config, expertsKey, eptNode *yaml.Node) error {
	if cfg.ExpertsPerToken < 1 {
		return p.errorf(eptNode, "experts_per_token must be at least 1")
	}
	if len(cfg.Experts) < cfg.ExpertsPerToken {
		return p.errorf(orNode(eptNode, expertsKey), "experts_per_token is %d but only %d experts are listed", cfg.ExpertsPerToken, len(cfg.Experts))
	}
	if len(cfg.SharedExperts) > 1 {
		return &merge.ConfigError{File: p.file, Pos: cfg.SharedExperts[1].Pos, Msg: "at most one shared expert is supported"}
	}
	if cfg.GateMode.usesPrompts() {
		for j, e := range cfg.Experts {
			if len(e.PositivePrompts) == 0 {
				return &merge.ConfigError{File: p.file, Pos: e.Pos,
					Msg: fmt.Sprintf("expert %d (%s) has no positive_prompts, which gate_mode %s needs", j, e.SourceModel.String(), cfg.GateMode)}
			}
		}
		if len(cfg.Experts) > 1 && allSamePrompts(cfg.Experts) {
			return &merge.ConfigError{File: p.file, Pos: cfg.Experts[0].Pos,
				Msg: "every expert has the same prompts: the gates could not tell the experts apart"}
		}
	}
	return nil
}

func allSamePrompts(es []Expert) bool {
	key := func(e Expert) string {
		return strings.Join(e.PositivePrompts, "\x00") + "\x01" + strings.Join(e.NegativePrompts, "\x00")
	}
	for _, e := range es[1:] {
		if key(e) != key(es[0]) {
			return false
		}
	}
	return true
}

// AllSameSource reports whether every routed expert comes from the same
// model, which mergekit refuses (an "upcycled" MoE is useless without
// training) unless told --i-understand-this-is-not-useful-without-training.
func (c *Config) AllSameSource() bool {
	for _, e := range c.Experts[1:] {
		if !e.SourceModel.Equal(c.Experts[0].SourceModel) {
			return false
		}
	}
	return true
}
