package merge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pos is a position in the YAML source (1-based; 0 = unknown).
type Pos struct{ Line, Column int }

// ConfigError is a configuration error with the place it was found.
type ConfigError struct {
	File string
	Pos  Pos
	Msg  string
}

// Error returns "FILE:LINE:COL: MSG", leaving out unknown parts.
func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	}
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Pos.Line)
		if e.Pos.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Pos.Column)
		}
	}
	if b.Len() > 0 && e.Msg != "" {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Config is a parsed mergekit merge configuration.
type Config struct {
	// File is the path given to LoadConfig (or the name given to ParseConfig).
	File string
	// Raw is the original YAML, written verbatim to mergekit_config.yml.
	Raw            []byte
	MergeMethod    string
	MergeMethodPos Pos
	Models         []InputModel
	Slices         []OutputSlice
	Modules        []Module
	BaseModel      *ModelRef
	Parameters     Params
	// DType and OutDType are "bfloat16", "float16", "float32", "float64"
	// or "int64" ("" = unset), without a "torch." prefix.
	DType, OutDType       string
	DTypePos, OutDTypePos Pos
	// TokenizerSource is the legacy tokenizer_source key.
	TokenizerSource *ModelRefOrKeyword
	Tokenizer       *TokenizerConfig
	// ChatTemplate is a built-in name, "auto" or a literal Jinja template.
	ChatTemplate    string
	ChatTemplatePos Pos
	// Name is the optional name: of a multi-stage config.
	Name string
	// Warnings note what was ignored, with positions.
	Warnings []string
}

// InputModel is an entry of models:.
type InputModel struct {
	Model      ModelRef
	Parameters Params
	Pos        Pos
}

// OutputSlice is an entry of slices:.
type OutputSlice struct {
	Sources    []InputSlice
	BaseModel  *ModelRef
	Parameters Params
	Pos        Pos
}

// InputSlice is a source of an output slice.
type InputSlice struct {
	Model ModelRef
	// LayerRange is [start, end), nil when absent.
	LayerRange *[2]int
	Parameters Params
	Pos        Pos
}

// Module is an entry of modules:.
type Module struct {
	Name       string
	Models     []InputModel
	Slices     []OutputSlice
	Parameters Params
	Pos        Pos
}

// TokenizerConfig is the tokenizer: block.
type TokenizerConfig struct {
	// Source defaults to the keyword "union".
	Source          ModelRefOrKeyword
	Tokens          []TokenConfig
	PadToMultipleOf int
	Pos             Pos
}

// TokenConfig says where one token's embedding comes from.
type TokenConfig struct {
	Token  string
	Force  bool
	Source TokenSource
	Pos    Pos
}

// TokenSource is a token's embedding source: Kind "model" (Model),
// "model_token" (Model and Token or TokenID), "zero", or "" when absent.
type TokenSource struct {
	Kind    string
	Model   *ModelRef
	Token   string
	TokenID *int
}

// ModelRefOrKeyword is "union", "base" or a model reference.
type ModelRefOrKeyword struct {
	Keyword string
	Model   *ModelRef
	Pos     Pos
}

// LoadConfig reads and parses a config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data, path)
}

// ParseConfig parses a mergekit YAML configuration. Anchors, aliases and
// merge keys work as in PyYAML; unknown keys are ignored with a warning.
// Errors are *ConfigError values naming the line.
func ParseConfig(data []byte, file string) (*Config, error) {
	p := &cfgParser{file: file}
	cfg, err := p.parse(data)
	if err != nil {
		return nil, err
	}
	cfg.File, cfg.Raw, cfg.Warnings = file, bytes.Clone(data), p.warnings
	return cfg, nil
}

type cfgParser struct {
	file     string
	warnings []string
}

func cfgPos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func (p *cfgParser) errorf(n *yaml.Node, format string, args ...any) error {
	var pos Pos
	if n != nil {
		pos = cfgPos(n)
	}
	return &ConfigError{File: p.file, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *cfgParser) warnf(n *yaml.Node, format string, args ...any) {
	p.warnings = append(p.warnings, (&ConfigError{File: p.file, Pos: cfgPos(n), Msg: fmt.Sprintf(format, args...)}).Error())
}

var cfgYAMLLine = regexp.MustCompile(`line (\d+)`)

func (p *cfgParser) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{}
	if m := cfgYAMLLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(msg, m[0]+": ")
	}
	return &ConfigError{File: p.file, Pos: pos, Msg: "invalid YAML: " + msg}
}

func (p *cfgParser) parse(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: p.file, Msg: "empty config"}
		}
		return nil, p.yamlError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, p.errorf(&next, "more than one YAML document; multi-stage configs need `gomerge multi`")
	} else if !errors.Is(err, io.EOF) {
		return nil, p.yamlError(err)
	}
	root := cfgDeref(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = cfgDeref(root.Content[0])
	}
	pairs, err := p.mapping(root, "config")
	if err != nil {
		return nil, err
	}
	cfg := &Config{}
	var haveMethod bool
	for _, kv := range pairs {
		k, v := kv.key.Value, kv.val
		switch k {
		case "merge_method":
			if cfg.MergeMethod, err = p.str(v, k); err == nil {
				cfg.MergeMethodPos, haveMethod = cfgPos(v), true
			}
		case "models":
			cfg.Models, err = p.inputModels(v)
		case "slices":
			cfg.Slices, err = p.outputSlices(v)
		case "modules":
			cfg.Modules, err = p.modules(v)
		case "base_model":
			cfg.BaseModel, err = p.optionalModelRef(v)
		case "parameters":
			cfg.Parameters, err = p.params(v)
		case "dtype":
			cfg.DType, cfg.DTypePos, err = p.dtype(v, k)
		case "out_dtype":
			cfg.OutDType, cfg.OutDTypePos, err = p.dtype(v, k)
		case "tokenizer_source":
			cfg.TokenizerSource, err = p.refOrKeyword(v)
		case "tokenizer":
			cfg.Tokenizer, err = p.tokenizer(v)
		case "chat_template":
			cfg.ChatTemplate, cfg.ChatTemplatePos, err = p.chatTemplate(v)
		case "name":
			cfg.Name, err = p.str(v, k)
		default:
			p.warnf(kv.key, "unknown key %q ignored", k)
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveMethod || cfg.MergeMethod == "" {
		return nil, p.errorf(root, "merge_method is required")
	}
	n := 0
	for _, present := range []bool{len(cfg.Models) > 0, len(cfg.Slices) > 0, len(cfg.Modules) > 0} {
		if present {
			n++
		}
	}
	if n != 1 {
		return nil, p.errorf(root, "exactly one of 'models', 'slices', or 'modules' must be present")
	}
	if cfg.Tokenizer != nil && cfg.TokenizerSource != nil {
		return nil, &ConfigError{File: p.file, Pos: cfg.Tokenizer.Pos, Msg: "tokenizer and tokenizer_source cannot both be set"}
	}
	return cfg, nil
}

type cfgPair struct{ key, val *yaml.Node }

// cfgDeref follows aliases.
func cfgDeref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping returns the pairs of a mapping node with merge keys (<<)
// expanded; explicit keys win over merged ones, as in PyYAML.
func (p *cfgParser) mapping(n *yaml.Node, what string) ([]cfgPair, error) {
	return p.mappingSeen(n, what, map[*yaml.Node]bool{})
}

// mappingSeen is mapping with the merge sources already being expanded,
// so that a recursive merge key is an error instead of a stack overflow.
func (p *cfgParser) mappingSeen(n *yaml.Node, what string, seen map[*yaml.Node]bool) ([]cfgPair, error) {
	n = cfgDeref(n)
	if seen[n] {
		return nil, p.errorf(n, "%s merges itself recursively", what)
	}
	seen[n] = true
	defer delete(seen, n)
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
	}
	var explicit, merged []cfgPair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], cfgDeref(n.Content[i+1])
		if k.Value == "<<" && k.Tag == "!!merge" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				sub, err := p.mappingSeen(s, "a merge key's value", seen)
				if err != nil {
					return nil, err
				}
				merged = append(merged, sub...)
			}
			continue
		}
		for _, e := range explicit {
			if e.key.Value == k.Value {
				return nil, p.errorf(k, "duplicate key %q", k.Value)
			}
		}
		explicit = append(explicit, cfgPair{k, v})
	}
	out := explicit
	for _, m := range merged {
		dup := false
		for _, e := range out {
			dup = dup || e.key.Value == m.key.Value
		}
		if !dup {
			out = append(out, m)
		}
	}
	return out, nil
}

func (p *cfgParser) seq(n *yaml.Node, what string) ([]*yaml.Node, error) {
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, "%s must be a list, not %s", what, kindName(n))
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = cfgDeref(c)
	}
	return out, nil
}

func (p *cfgParser) str(n *yaml.Node, what string) (string, error) {
	n = cfgDeref(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errorf(n, "%s must be a string, not %s", what, kindName(n))
	}
	return n.Value, nil
}

func (p *cfgParser) number(n *yaml.Node, what string) (float64, error) {
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode {
		switch n.Tag {
		case "!!int", "!!float":
			var v float64
			if err := n.Decode(&v); err == nil {
				return v, nil
			}
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err == nil {
				if b {
					return 1, nil
				}
				return 0, nil
			}
		}
	}
	return 0, p.errorf(n, "%s: %s is not a number", what, kindName(n))
}

func (p *cfgParser) integer(n *yaml.Node, what string) (int, error) {
	v, err := p.number(n, what)
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) || math.Abs(v) > 1<<31 {
		return 0, p.errorf(n, "%s: %v is not an integer", what, v)
	}
	return int(v), nil
}

func (p *cfgParser) boolean(n *yaml.Node, what string) (bool, error) {
	v, err := p.number(n, what)
	return v != 0, err
}

func (p *cfgParser) inputModels(n *yaml.Node) ([]InputModel, error) {
	items, err := p.seq(n, "models")
	if err != nil {
		return nil, err
	}
	var out []InputModel
	for _, it := range items {
		im := InputModel{Pos: cfgPos(it)}
		if it.Kind == yaml.ScalarNode {
			// A bare string is a model with no parameters.
			if im.Model, err = p.modelRef(it); err != nil {
				return nil, err
			}
			out = append(out, im)
			continue
		}
		pairs, err := p.mapping(it, "a models entry")
		if err != nil {
			return nil, err
		}
		haveModel := false
		for _, kv := range pairs {
			switch kv.key.Value {
			case "model":
				im.Model, err = p.modelRef(kv.val)
				haveModel = true
			case "parameters":
				im.Parameters, err = p.params(kv.val)
			default:
				p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		if !haveModel {
			return nil, p.errorf(it, "models entry needs a model")
		}
		out = append(out, im)
	}
	return out, nil
}

func (p *cfgParser) outputSlices(n *yaml.Node) ([]OutputSlice, error) {
	items, err := p.seq(n, "slices")
	if err != nil {
		return nil, err
	}
	var out []OutputSlice
	for _, it := range items {
		pairs, err := p.mapping(it, "a slices entry")
		if err != nil {
			return nil, err
		}
		s := OutputSlice{Pos: cfgPos(it)}
		for _, kv := range pairs {
			switch kv.key.Value {
			case "sources":
				s.Sources, err = p.inputSlices(kv.val)
			case "base_model":
				s.BaseModel, err = p.optionalModelRef(kv.val)
			case "parameters":
				s.Parameters, err = p.params(kv.val)
			case "residual_weight":
				_, err = p.number(kv.val, "residual_weight")
			default:
				p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		if len(s.Sources) == 0 {
			return nil, p.errorf(it, "slice needs a non-empty sources list")
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *cfgParser) inputSlices(n *yaml.Node) ([]InputSlice, error) {
	items, err := p.seq(n, "sources")
	if err != nil {
		return nil, err
	}
	var out []InputSlice
	for _, it := range items {
		pairs, err := p.mapping(it, "a sources entry")
		if err != nil {
			return nil, err
		}
		s := InputSlice{Pos: cfgPos(it)}
		haveModel := false
		for _, kv := range pairs {
			switch kv.key.Value {
			case "model":
				s.Model, err = p.modelRef(kv.val)
				haveModel = true
			case "layer_range":
				s.LayerRange, err = p.layerRange(kv.val)
			case "parameters":
				s.Parameters, err = p.params(kv.val)
			default:
				p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		if !haveModel {
			return nil, p.errorf(it, "sources entry needs a model")
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *cfgParser) layerRange(n *yaml.Node) (*[2]int, error) {
	items, err := p.seq(n, "layer_range")
	if err != nil {
		return nil, err
	}
	if len(items) != 2 {
		return nil, p.errorf(n, "layer_range must be [start, end], got %d values", len(items))
	}
	var r [2]int
	for i, it := range items {
		if r[i], err = p.integer(it, "layer_range"); err != nil {
			return nil, err
		}
	}
	if r[0] < 0 || r[1] <= r[0] {
		return nil, p.errorf(n, "layer_range [%d, %d] is empty or negative (end is exclusive)", r[0], r[1])
	}
	return &r, nil
}

func (p *cfgParser) modules(n *yaml.Node) ([]Module, error) {
	pairs, err := p.mapping(n, "modules")
	if err != nil {
		return nil, err
	}
	var out []Module
	for _, kv := range pairs {
		m := Module{Name: kv.key.Value, Pos: cfgPos(kv.key)}
		sub, err := p.mapping(kv.val, "module "+m.Name)
		if err != nil {
			return nil, err
		}
		for _, e := range sub {
			switch e.key.Value {
			case "models":
				m.Models, err = p.inputModels(e.val)
			case "slices":
				m.Slices, err = p.outputSlices(e.val)
			case "parameters":
				m.Parameters, err = p.params(e.val)
			default:
				p.warnf(e.key, "unknown key %q ignored", e.key.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		if (len(m.Models) > 0) == (len(m.Slices) > 0) {
			return nil, p.errorf(kv.key, "module %s needs exactly one of models or slices", m.Name)
		}
		out = append(out, m)
	}
	return out, nil
}

func (p *cfgParser) dtype(n *yaml.Node, what string) (string, Pos, error) {
	s, err := p.str(n, what)
	if err != nil {
		return "", Pos{}, err
	}
	name := strings.TrimPrefix(s, "torch.")
	switch name {
	case "bfloat16", "float16", "float32", "float64", "int64":
		return name, cfgPos(n), nil
	}
	return "", Pos{}, p.errorf(n, "%s %q is not one of bfloat16, float16, float32, int64", what, s)
}

// builtinTemplateNames are the chat_template values that name a template.
var builtinTemplateNames = []string{"alpaca", "chatml", "exaone", "llama3", "mistral"}

func (p *cfgParser) chatTemplate(n *yaml.Node) (string, Pos, error) {
	s, err := p.str(n, "chat_template")
	if err != nil {
		return "", Pos{}, err
	}
	if s == "auto" {
		return s, cfgPos(n), nil
	}
	for _, b := range builtinTemplateNames {
		if s == b {
			return s, cfgPos(n), nil
		}
	}
	if len(s) < 20 || !strings.Contains(s, "{") {
		return "", Pos{}, p.errorf(n, "invalid chat_template %q: want auto, one of %s, or a Jinja template",
			s, strings.Join(builtinTemplateNames, ", "))
	}
	return s, cfgPos(n), nil
}

func (p *cfgParser) optionalModelRef(n *yaml.Node) (*ModelRef, error) {
	if n := cfgDeref(n); n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	r, err := p.modelRef(n)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// modelRef parses the string form PATH[@REV][+LORA[@REV]] or the dict form
// {model: {path, revision}, lora: {path, revision}, override_architecture}.
func (p *cfgParser) modelRef(n *yaml.Node) (ModelRef, error) {
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		r, err := ParseModelRef(n.Value)
		if err != nil {
			return ModelRef{}, p.errorf(n, "%v", err)
		}
		r.Pos = cfgPos(n)
		return r, nil
	}
	pairs, err := p.mapping(n, "a model reference")
	if err != nil {
		return ModelRef{}, err
	}
	r := ModelRef{Pos: cfgPos(n)}
	for _, kv := range pairs {
		switch kv.key.Value {
		case "model":
			r.Path, r.Revision, err = p.modelPath(kv.val)
		case "lora":
			if v := cfgDeref(kv.val); v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			var l LoRARef
			l.Path, l.Revision, err = p.modelPath(kv.val)
			r.LoRA = &l
		case "override_architecture":
			r.OverrideArchitecture, err = p.str(kv.val, "override_architecture")
		default:
			p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
		}
		if err != nil {
			return ModelRef{}, err
		}
	}
	if r.Path == "" {
		return ModelRef{}, p.errorf(n, "model reference needs a model path")
	}
	return r, nil
}

func (p *cfgParser) modelPath(n *yaml.Node) (path, rev string, err error) {
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode {
		path, rev, err = splitRevision(n.Value)
		if err != nil {
			return "", "", p.errorf(n, "%v", err)
		}
		return path, rev, nil
	}
	pairs, err := p.mapping(n, "a model path")
	if err != nil {
		return "", "", err
	}
	for _, kv := range pairs {
		switch kv.key.Value {
		case "path":
			path, err = p.str(kv.val, "path")
		case "revision":
			if v := cfgDeref(kv.val); !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
				rev, err = p.str(kv.val, "revision")
			}
		default:
			p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
		}
		if err != nil {
			return "", "", err
		}
	}
	if path == "" {
		return "", "", p.errorf(n, "model path is empty")
	}
	return path, rev, nil
}

func (p *cfgParser) refOrKeyword(n *yaml.Node) (*ModelRefOrKeyword, error) {
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode && (n.Value == "union" || n.Value == "base") {
		return &ModelRefOrKeyword{Keyword: n.Value, Pos: cfgPos(n)}, nil
	}
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" && strings.HasPrefix(n.Value, "model:") {
		p.warnf(n, "the legacy \"model:\" prefix is stripped from %q", n.Value)
		c := *n
		c.Value = strings.TrimPrefix(n.Value, "model:")
		n = &c
	}
	r, err := p.modelRef(n)
	if err != nil {
		return nil, err
	}
	return &ModelRefOrKeyword{Model: &r, Pos: cfgPos(n)}, nil
}

func (p *cfgParser) tokenizer(n *yaml.Node) (*TokenizerConfig, error) {
	pairs, err := p.mapping(n, "tokenizer")
	if err != nil {
		return nil, err
	}
	t := &TokenizerConfig{Source: ModelRefOrKeyword{Keyword: "union", Pos: cfgPos(n)}, Pos: cfgPos(n)}
	for _, kv := range pairs {
		switch kv.key.Value {
		case "source":
			var s *ModelRefOrKeyword
			if s, err = p.refOrKeyword(kv.val); err == nil {
				t.Source = *s
			}
		case "tokens":
			t.Tokens, err = p.tokens(kv.val)
		case "pad_to_multiple_of":
			if v := cfgDeref(kv.val); v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if t.PadToMultipleOf, err = p.integer(kv.val, "pad_to_multiple_of"); err == nil && t.PadToMultipleOf <= 0 {
				err = p.errorf(kv.val, "pad_to_multiple_of must be a positive integer")
			}
		default:
			p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (p *cfgParser) tokens(n *yaml.Node) ([]TokenConfig, error) {
	if v := cfgDeref(n); v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	pairs, err := p.mapping(n, "tokenizer.tokens")
	if err != nil {
		return nil, err
	}
	var out []TokenConfig
	for _, kv := range pairs {
		tc := TokenConfig{Token: kv.key.Value, Pos: cfgPos(kv.key)}
		sub, err := p.mapping(kv.val, "token "+tc.Token)
		if err != nil {
			return nil, err
		}
		for _, e := range sub {
			switch e.key.Value {
			case "force":
				tc.Force, err = p.boolean(e.val, "force")
			case "source":
				tc.Source, err = p.tokenSource(e.val)
			default:
				p.warnf(e.key, "unknown key %q ignored", e.key.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		out = append(out, tc)
	}
	return out, nil
}

func (p *cfgParser) tokenSource(n *yaml.Node) (TokenSource, error) {
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return TokenSource{}, nil
	}
	if n.Kind == yaml.MappingNode {
		pairs, err := p.mapping(n, "token source")
		if err != nil {
			return TokenSource{}, err
		}
		var kind *yaml.Node
		for _, kv := range pairs {
			if kv.key.Value == "kind" {
				kind = kv.val
			}
		}
		if kind != nil {
			return p.kindSource(n, kind, pairs)
		}
	}
	r, err := p.modelRef(n)
	if err != nil {
		return TokenSource{}, err
	}
	return TokenSource{Kind: "model", Model: &r}, nil
}

func (p *cfgParser) kindSource(n, kindNode *yaml.Node, pairs []cfgPair) (TokenSource, error) {
	kind, err := p.str(kindNode, "kind")
	if err != nil {
		return TokenSource{}, err
	}
	switch kind {
	case "zero":
		return TokenSource{Kind: "zero"}, nil
	case "model_token":
	default:
		return TokenSource{}, p.errorf(kindNode, "token source kind %q is not model_token or zero", kind)
	}
	ts := TokenSource{Kind: "model_token"}
	haveToken := false
	for _, kv := range pairs {
		switch kv.key.Value {
		case "kind":
		case "model":
			var r ModelRef
			if r, err = p.modelRef(kv.val); err == nil {
				ts.Model = &r
			}
		case "token":
			ts.Token, err = p.str(kv.val, "token")
			haveToken = true
		case "token_id":
			var id int
			if id, err = p.integer(kv.val, "token_id"); err == nil {
				ts.TokenID = &id
			}
		default:
			p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
		}
		if err != nil {
			return TokenSource{}, err
		}
	}
	if ts.Model == nil {
		return TokenSource{}, p.errorf(n, "model_token source needs a model")
	}
	if haveToken == (ts.TokenID != nil) {
		return TokenSource{}, p.errorf(n, "model_token source needs exactly one of token and token_id")
	}
	return ts, nil
}
