package merge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/gomerge/gomerge/internal/regfile"
)

// Pos is a position in the YAML source (1-based; 0 = unknown).
type Pos struct{ Line, Column int }

// ConfigError is a configuration error with the place it was found.
type ConfigError struct {
	File string
	Pos  Pos
	Msg  string
	// Err, when set, is the error class Msg describes (ErrDegenerate).
	Err error
}

// Unwrap returns e.Err.
func (e *ConfigError) Unwrap() error { return e.Err }

// Error returns "FILE:LINE:COL: MSG", leaving out the parts that are unknown.
func (e *ConfigError) Error() string {
	var parts []string
	if e.File != "" {
		parts = append(parts, e.File)
	}
	if e.Pos.Line > 0 {
		parts = append(parts, strconv.Itoa(e.Pos.Line))
		if e.Pos.Column > 0 {
			parts = append(parts, strconv.Itoa(e.Pos.Column))
		}
	}
	if len(parts) == 0 {
		return e.Msg
	}
	return strings.Join(parts, ":") + ": " + e.Msg
}

// Config is a parsed mergekit merge configuration (mergekit's
// MergeConfiguration). Parsing checks its shape only: method names,
// parameter names and paths are checked by the planner.
type Config struct {
	// File is the path given to LoadConfig (or the name given to ParseConfig).
	File string
	// Raw is the original YAML, written verbatim to mergekit_config.yml.
	Raw []byte
	// MergeMethod is the merge_method key, not yet checked against the
	// registry.
	MergeMethod    string
	MergeMethodPos Pos
	// Models, Slices and Modules are the models:, slices: and modules:
	// keys; exactly one of them is non-empty.
	Models  []InputModel
	Slices  []OutputSlice
	Modules []Module
	// BaseModel is base_model, nil when absent.
	BaseModel *ModelRef
	// Parameters are the top-level parameters (lowest precedence).
	Parameters Params
	// DType and OutDType are "bfloat16", "float16", "float32", "float64"
	// or "int64" ("" = unset), without a "torch." prefix.
	DType, OutDType       string
	DTypePos, OutDTypePos Pos
	// TokenizerSource is the legacy tokenizer_source key: "union", "base"
	// or a model. It is nil when absent.
	TokenizerSource *ModelRefOrKeyword
	// Tokenizer is the tokenizer: block, nil when absent.
	Tokenizer *TokenizerConfig
	// ChatTemplate is "auto", a built-in template name or a literal Jinja
	// template ("" = unset). "auto" is the inputs' most common template
	// among those whose special tokens the written vocabulary has.
	ChatTemplate    string
	ChatTemplatePos Pos
	// Name is the optional name: of a stage of a multi-stage config.
	Name string
	// Warnings note what was ignored or read leniently, each starting
	// with FILE:LINE:COL.
	Warnings []string
}

// InputModel is an entry of models:.
type InputModel struct {
	Model      ModelRef
	Parameters Params
	Pos        Pos
}

// OutputSlice is an entry of slices:, one run of output layers.
type OutputSlice struct {
	Sources []InputSlice
	// BaseModel overrides the top-level base_model for this slice.
	BaseModel  *ModelRef
	Parameters Params
	Pos        Pos
}

// InputSlice is a source of an output slice.
type InputSlice struct {
	Model ModelRef
	// LayerRange is [start, end), end exclusive; nil when absent.
	LayerRange *[2]int
	Parameters Params
	Pos        Pos
}

// Module is an entry of modules:, the definition of one module of a
// multi-module architecture. Exactly one of Models and Slices is set.
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
	Source ModelRefOrKeyword
	// Tokens are the tokens: entries in YAML order.
	Tokens []TokenConfig
	// PadToMultipleOf rounds the vocabulary size up; 0 = unset.
	PadToMultipleOf int
	// Approximate (a gomerge extension) gives a model the rows of tokens
	// it lacks by tokenizer surgery in its own embedding space — "omp",
	// "common_interpolation", "mean" or "zero" — instead of mergekit's
	// rows borrowed from the models that have them. "" = mergekit's rule.
	Approximate string
	// K is OMP's sparsity or the interpolation's neighbours (default 32).
	K   int
	Pos Pos
}

// TokenConfig says where one token's embedding comes from.
type TokenConfig struct {
	Token string
	// Force uses Source even when the output vocabulary already has the
	// token from a model.
	Force  bool
	Source TokenSource
	Pos    Pos
}

// TokenSource is a token's embedding source: Kind "model" (that model's
// row for the token), "model_token" (Model's row for Token or TokenID),
// "zero", or "" when the config gives none.
type TokenSource struct {
	Kind    string
	Model   *ModelRef
	Token   string
	TokenID *int
}

// ModelRefOrKeyword is the keyword "union" or "base", or a model.
type ModelRefOrKeyword struct {
	Keyword string
	Model   *ModelRef
	Pos     Pos
}

// LoadConfig reads and parses a config file.
func LoadConfig(path string) (*Config, error) {
	data, err := regfile.ReadFile(path, regfile.ConfigLimit)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data, path)
}

// ParseConfig parses a mergekit YAML configuration; file names it in
// errors and warnings. It reads what mergekit's PyYAML safe_load and
// pydantic lax validation read: anchors, aliases and merge keys work,
// booleans and integers count as numbers, later duplicate keys win, and
// unknown keys are ignored with a warning. Errors are *ConfigError values
// naming the line.
func ParseConfig(data []byte, file string) (*Config, error) {
	if err := cfgCheckSize(data, file); err != nil {
		return nil, err
	}
	p := &cfgParser{file: file, flat: map[*yaml.Node][]cfgPair{}, flattening: map[*yaml.Node]bool{}, warned: map[string]bool{}}
	root, err := p.decode(data)
	if err != nil {
		return nil, err
	}
	cfg, err := p.config(root)
	if err != nil {
		return nil, err
	}
	cfg.File, cfg.Raw, cfg.Warnings = file, bytes.Clone(data), p.warnings
	return cfg, nil
}

// cfgMaxBytes bounds the size of a config, as LoadConfig reads it.
const cfgMaxBytes = regfile.ConfigLimit

func cfgCheckSize(data []byte, file string) error {
	if len(data) > cfgMaxBytes {
		return &ConfigError{File: file, Msg: fmt.Sprintf("config too large: %d bytes, more than %d", len(data), cfgMaxBytes)}
	}
	return nil
}

// cfgMaxWork bounds the nodes visited while reading a config: aliases can
// make a small file expand exponentially.
const cfgMaxWork = 1 << 20

type cfgParser struct {
	file     string
	warnings []string
	warned   map[string]bool
	// flat holds mappings with merge keys expanded; flattening the ones
	// being expanded, to catch a mapping that merges itself.
	flat       map[*yaml.Node][]cfgPair
	flattening map[*yaml.Node]bool
	work       int
}

type cfgPair struct{ key, val *yaml.Node }

func cfgPos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{n.Line, n.Column}
}

func (p *cfgParser) errorf(n *yaml.Node, format string, args ...any) error {
	return &ConfigError{File: p.file, Pos: cfgPos(n), Msg: fmt.Sprintf(format, args...)}
}

// warnf records a warning once, however often aliases make the parser
// visit its node.
func (p *cfgParser) warnf(n *yaml.Node, format string, args ...any) {
	w := p.errorf(n, format, args...).Error()
	if !p.warned[w] {
		p.warned[w] = true
		p.warnings = append(p.warnings, w)
	}
}

func (p *cfgParser) spend(n *yaml.Node, k int) error {
	p.work += k
	if p.work > cfgMaxWork {
		return p.errorf(n, "config too large: more than %d nodes after expanding aliases", cfgMaxWork)
	}
	return nil
}

var cfgYAMLLine = regexp.MustCompile(`^line (\d+): `)

func (p *cfgParser) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var pos Pos
	if m := cfgYAMLLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	return &ConfigError{File: p.file, Pos: pos, Msg: "invalid YAML: " + msg}
}

// decode returns the root node of the only document. PyYAML's safe_load
// rejects a second document; gomerge ignores empty ones.
func (p *cfgParser) decode(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// The YAML library is third-party code; its panics must not reach
		// the user as crashes.
		if r := recover(); r != nil {
			root, err = nil, &ConfigError{File: p.file, Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: p.file, Msg: "empty config"}
		}
		return nil, p.yamlError(err)
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, p.yamlError(err)
		}
		if len(next.Content) == 1 && cfgIsNull(next.Content[0]) {
			p.warnf(&next, "empty YAML document ignored")
			continue
		}
		return nil, p.errorf(&next, "multiple YAML documents: use `gomerge multi` for multi-stage configs")
	}
	root = &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return cfgDeref(root), nil
}

// cfgSeen notes where the keys that validation talks about were found.
type cfgSeen struct {
	method, tokenizerSource *yaml.Node
	// inputs are the keys of the non-empty models:, slices: and modules:.
	inputs []*yaml.Node
}

func (p *cfgParser) config(root *yaml.Node) (*Config, error) {
	pairs, err := p.mapping(root, "config")
	if err != nil {
		return nil, err
	}
	cfg := &Config{}
	var seen cfgSeen
	for _, kv := range pairs {
		if err := p.topLevelKey(cfg, &seen, kv); err != nil {
			return nil, err
		}
	}
	if seen.method == nil {
		hint := ""
		if cfgHasKey(pairs, "experts") || cfgHasKey(pairs, "gate_mode") {
			hint = " (this looks like a mergekit-moe config)"
		}
		return nil, p.errorf(root, "merge_method is required%s", hint)
	}
	if cfg.MergeMethod == "" {
		return nil, p.errorf(seen.method, "merge_method must not be empty")
	}
	const exactlyOne = "Exactly one of 'models', 'slices', or 'modules' must be present"
	switch len(seen.inputs) {
	case 0:
		return nil, p.errorf(root, exactlyOne)
	case 1:
	default:
		names := make([]string, len(seen.inputs))
		for i, k := range seen.inputs {
			names[i] = k.Value
		}
		return nil, p.errorf(seen.inputs[1], "%s (found %s)", exactlyOne, strings.Join(names, ", "))
	}
	if cfg.Tokenizer != nil && cfg.TokenizerSource != nil {
		return nil, p.errorf(seen.tokenizerSource, "tokenizer_source and tokenizer cannot both be set")
	}
	return cfg, nil
}

func (p *cfgParser) topLevelKey(cfg *Config, seen *cfgSeen, kv cfgPair) (err error) {
	k, v := kv.key.Value, kv.val
	switch k {
	case "merge_method":
		if cfg.MergeMethod, err = p.str(v, k); err == nil {
			seen.method, cfg.MergeMethodPos = v, cfgPos(v)
		}
	case "models":
		if cfg.Models, err = p.inputModels(v); len(cfg.Models) > 0 {
			seen.inputs = append(seen.inputs, kv.key)
		}
	case "slices":
		if cfg.Slices, err = p.outputSlices(v); len(cfg.Slices) > 0 {
			seen.inputs = append(seen.inputs, kv.key)
		}
	case "modules":
		if cfg.Modules, err = p.modules(v); len(cfg.Modules) > 0 {
			seen.inputs = append(seen.inputs, kv.key)
		}
	case "base_model":
		cfg.BaseModel, err = p.optionalModelRef(v)
	case "parameters":
		cfg.Parameters, err = p.params(v)
	case "dtype":
		cfg.DType, cfg.DTypePos, err = p.dtype(v, k)
	case "out_dtype":
		cfg.OutDType, cfg.OutDTypePos, err = p.dtype(v, k)
	case "tokenizer_source":
		if !cfgIsNull(v) {
			cfg.TokenizerSource, err = p.refOrKeyword(v, k)
			seen.tokenizerSource = kv.key
		}
	case "tokenizer":
		cfg.Tokenizer, err = p.tokenizer(v)
	case "chat_template":
		cfg.ChatTemplate, cfg.ChatTemplatePos, err = p.chatTemplate(v)
	case "name":
		// mergekit-yaml ignores name:; only multi-stage runs use it.
		if v.Kind == yaml.ScalarNode && !cfgIsNull(v) {
			cfg.Name = v.Value
		}
	default:
		p.warnf(kv.key, "unknown key %q ignored", k)
	}
	return err
}

func cfgHasKey(pairs []cfgPair, name string) bool {
	return slices.ContainsFunc(pairs, func(kv cfgPair) bool { return kv.key.Value == name })
}

// cfgDeref follows aliases.
func cfgDeref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func cfgTag(n *yaml.Node) string { return n.ShortTag() }

// cfgIsNull reports whether n is null (~, null or nothing).
func cfgIsNull(n *yaml.Node) bool {
	n = cfgDeref(n)
	return n == nil || n.Kind == yaml.ScalarNode && cfgTag(n) == "!!null"
}

// cfgKindName describes a node for error messages.
func cfgKindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if cfgTag(n) == "!!null" {
			return "empty"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// mapping returns the pairs of a mapping node as PyYAML's safe_load builds
// its dict: merge keys (<<) expanded, explicit keys winning over merged
// ones, and a later duplicate key winning over an earlier one.
func (p *cfgParser) mapping(n *yaml.Node, what string) ([]cfgPair, error) {
	n = cfgDeref(n)
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "%s must be a mapping, not %s", what, cfgKindName(n))
	}
	pairs, err := p.flatten(n)
	if err != nil {
		return nil, err
	}
	return pairs, p.spend(n, len(pairs))
}

func (p *cfgParser) flatten(n *yaml.Node) ([]cfgPair, error) {
	if pairs, ok := p.flat[n]; ok {
		return pairs, nil
	}
	if p.flattening[n] {
		return nil, p.errorf(n, "a merge key (<<) includes the mapping that holds it")
	}
	p.flattening[n] = true
	defer delete(p.flattening, n)
	if err := p.spend(n, len(n.Content)); err != nil {
		return nil, err
	}
	var merged, explicit []cfgPair
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := cfgDeref(n.Content[i]), cfgDeref(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && cfgTag(k) == "!!merge" {
			// As in PyYAML, of several mappings in a list the first wins.
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = slices.Clone(v.Content)
				slices.Reverse(srcs)
			}
			for _, s := range srcs {
				s = cfgDeref(s)
				if s.Kind != yaml.MappingNode {
					return nil, p.errorf(s, "a merge key (<<) takes a mapping or a list of mappings, not %s", cfgKindName(s))
				}
				sub, err := p.flatten(s)
				if err != nil {
					return nil, err
				}
				merged = append(merged, sub...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, p.errorf(k, "a key must be a string, not %s", cfgKindName(k))
		}
		if seen[k.Value] {
			p.warnf(k, "duplicate key %q: the last value is used", k.Value)
		}
		seen[k.Value] = true
		explicit = append(explicit, cfgPair{k, v})
	}
	out := cfgLastWins(append(merged, explicit...))
	p.flat[n] = out
	return out, nil
}

// cfgLastWins keeps each key once, in the order of its first occurrence
// with its last value, like a Python dict built from the pairs.
func cfgLastWins(pairs []cfgPair) []cfgPair {
	at := make(map[string]int, len(pairs))
	out := make([]cfgPair, 0, len(pairs))
	for _, kv := range pairs {
		if i, ok := at[kv.key.Value]; ok {
			out[i] = kv
			continue
		}
		at[kv.key.Value] = len(out)
		out = append(out, kv)
	}
	return out
}

// seq returns the items of a list with aliases resolved; null is an empty
// list.
func (p *cfgParser) seq(n *yaml.Node, what string) ([]*yaml.Node, error) {
	n = cfgDeref(n)
	if cfgIsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, "%s must be a list, not %s", what, cfgKindName(n))
	}
	if err := p.spend(n, len(n.Content)); err != nil {
		return nil, err
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = cfgDeref(c)
	}
	return out, nil
}

// str reads a string. Scalars of any type are taken as written, so a
// model named 1.5 stays "1.5".
func (p *cfgParser) str(n *yaml.Node, what string) (string, error) {
	n = cfgDeref(n)
	if n.Kind != yaml.ScalarNode || cfgIsNull(n) {
		return "", p.errorf(n, "%s must be a string, not %s", what, cfgKindName(n))
	}
	return n.Value, nil
}

// cfgYAML11Bools are the booleans of YAML 1.1 (PyYAML) that YAML 1.2
// reads as strings.
var cfgYAML11Bools = map[string]bool{
	"yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

// cfgBool returns the value of a boolean scalar, YAML 1.1 spellings
// included.
func cfgBool(n *yaml.Node) (v, ok bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch cfgTag(n) {
	case "!!bool":
		err := n.Decode(&v)
		return v, err == nil
	case "!!str":
		if n.Style == 0 {
			v, ok = cfgYAML11Bools[n.Value]
		}
	}
	return v, ok
}

// number reads a number the way pydantic's lax mode reads a float:
// integers and booleans (1 and 0) are numbers, strings are not.
func (p *cfgParser) number(n *yaml.Node, what string) (float64, error) {
	n = cfgDeref(n)
	if b, ok := cfgBool(n); ok {
		if b {
			return 1, nil
		}
		return 0, nil
	}
	if n.Kind == yaml.ScalarNode {
		switch cfgTag(n) {
		case "!!int", "!!float":
			var v float64
			if err := n.Decode(&v); err == nil {
				return v, nil
			}
		case "!!str":
			// pydantic's lax mode parses numeric strings, so mergekit
			// accepts weight: "0.5".
			if v, ok := cfgParseFloat(n.Value); ok {
				p.warnf(n, "%s: string %q read as a number", what, n.Value)
				return v, nil
			}
			return 0, p.errorf(n, "%s: string %q is not a number", what, n.Value)
		}
	}
	return 0, p.errorf(n, "%s: %s is not a number", what, cfgKindName(n))
}

// cfgParseFloat parses a string as Python's float() does: surrounding
// space, underscores between digits, inf and nan are allowed, hexadecimal
// is not.
func cfgParseFloat(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if u := strings.ToLower(strings.TrimLeft(s, "+-")); strings.HasPrefix(u, "0x") {
		return 0, false
	}
	if strings.Contains(s, "_") {
		b := []byte(s)
		for i, c := range b {
			if c == '_' && (i == 0 || i == len(b)-1 || !cfgIsDigit(b[i-1]) || !cfgIsDigit(b[i+1])) {
				return 0, false
			}
		}
		s = strings.ReplaceAll(s, "_", "")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return v, true
}

func cfgIsDigit(c byte) bool { return '0' <= c && c <= '9' }

// cfgStringBools are the strings pydantic's lax mode reads as booleans.
var cfgStringBools = map[string]bool{
	"1": true, "on": true, "t": true, "true": true, "y": true, "yes": true,
	"0": false, "off": false, "f": false, "false": false, "n": false, "no": false,
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
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode && cfgTag(n) == "!!str" {
		if b, ok := cfgBool(n); ok {
			return b, nil
		}
		if b, ok := cfgStringBools[strings.ToLower(strings.TrimSpace(n.Value))]; ok {
			return b, nil
		}
		return false, p.errorf(n, "%s: string %q is not a boolean", what, n.Value)
	}
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
			// A bare reference is a model without parameters (mergekit
			// wants {model: ...}).
			if im.Model, err = p.modelRef(it, "model"); err != nil {
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
				im.Model, err = p.modelRef(kv.val, "model")
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
			return nil, p.errorf(it, "a models entry needs a model")
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
				// Accepted and unused by mergekit.
				if !cfgIsNull(kv.val) {
					_, err = p.number(kv.val, "residual_weight")
				}
			default:
				p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		if len(s.Sources) == 0 {
			return nil, p.errorf(it, "a slice needs a non-empty sources list")
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
				s.Model, err = p.modelRef(kv.val, "model")
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
			return nil, p.errorf(it, "a sources entry needs a model")
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *cfgParser) layerRange(n *yaml.Node) (*[2]int, error) {
	if cfgIsNull(n) {
		return nil, nil
	}
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
	if cfgIsNull(n) {
		return nil, nil
	}
	pairs, err := p.mapping(n, "modules")
	if err != nil {
		return nil, err
	}
	var out []Module
	for _, kv := range pairs {
		m := Module{Name: kv.key.Value, Pos: cfgPos(kv.key)}
		sub, err := p.mapping(kv.val, fmt.Sprintf("module %q", m.Name))
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
			return nil, p.errorf(kv.key, "module %q needs exactly one of models or slices", m.Name)
		}
		out = append(out, m)
	}
	return out, nil
}

func (p *cfgParser) dtype(n *yaml.Node, what string) (string, Pos, error) {
	if cfgIsNull(n) {
		return "", Pos{}, nil
	}
	s, err := p.str(n, what)
	if err != nil {
		return "", Pos{}, err
	}
	name := strings.TrimPrefix(s, "torch.")
	switch name {
	case "bfloat16", "float16", "float32", "float64", "int64":
		return name, cfgPos(cfgDeref(n)), nil
	}
	return "", Pos{}, p.errorf(n, "%s %q is not one of bfloat16, float16, float32, int64", what, s)
}

// cfgChatTemplateNames are the chat_template values that name a built-in
// template (spec 4.5).
var cfgChatTemplateNames = []string{"alpaca", "chatml", "exaone", "llama3", "mistral"}

func (p *cfgParser) chatTemplate(n *yaml.Node) (string, Pos, error) {
	if cfgIsNull(n) {
		return "", Pos{}, nil
	}
	s, err := p.str(n, "chat_template")
	if err != nil {
		return "", Pos{}, err
	}
	pos := cfgPos(cfgDeref(n))
	if s == "auto" || slices.Contains(cfgChatTemplateNames, s) {
		return s, pos, nil
	}
	// mergekit's test: at least 20 characters (Python counts code points)
	// and a "{".
	if utf8.RuneCountInString(s) < 20 || !strings.Contains(s, "{") {
		return "", Pos{}, p.errorf(n, "invalid chat_template %q: want auto, one of %s, or a Jinja template",
			s, strings.Join(cfgChatTemplateNames, ", "))
	}
	return s, pos, nil
}

func (p *cfgParser) tokenizer(n *yaml.Node) (*TokenizerConfig, error) {
	if cfgIsNull(n) {
		return nil, nil
	}
	pairs, err := p.mapping(n, "tokenizer")
	if err != nil {
		return nil, err
	}
	pos := cfgPos(cfgDeref(n))
	t := &TokenizerConfig{Source: ModelRefOrKeyword{Keyword: "union", Pos: pos}, Pos: pos}
	for _, kv := range pairs {
		switch kv.key.Value {
		case "source":
			var s *ModelRefOrKeyword
			if s, err = p.refOrKeyword(kv.val, "tokenizer.source"); err == nil {
				t.Source = *s
			}
		case "tokens":
			t.Tokens, err = p.tokens(kv.val)
		case "pad_to_multiple_of":
			if cfgIsNull(kv.val) {
				continue
			}
			if t.PadToMultipleOf, err = p.integer(kv.val, "pad_to_multiple_of"); err == nil && t.PadToMultipleOf <= 0 {
				err = p.errorf(kv.val, "pad_to_multiple_of must be a positive integer, not %d", t.PadToMultipleOf)
			}
		case "approximate":
			if t.Approximate, err = p.str(kv.val, "approximate"); err == nil {
				switch t.Approximate {
				case "omp", "common_interpolation", "mean", "zero":
				default:
					err = p.errorf(kv.val, "approximate must be omp, common_interpolation, mean or zero, not %q", t.Approximate)
				}
			}
		case "k":
			if t.K, err = p.integer(kv.val, "k"); err == nil && t.K <= 0 {
				err = p.errorf(kv.val, "k must be a positive integer, not %d", t.K)
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
	if cfgIsNull(n) {
		return nil, nil
	}
	pairs, err := p.mapping(n, "tokenizer.tokens")
	if err != nil {
		return nil, err
	}
	var out []TokenConfig
	for _, kv := range pairs {
		tc := TokenConfig{Token: kv.key.Value, Pos: cfgPos(kv.key)}
		sub, err := p.mapping(kv.val, fmt.Sprintf("token %q", tc.Token))
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

// tokenSource reads {kind: model_token, ...}, {kind: zero} or a model
// reference.
func (p *cfgParser) tokenSource(n *yaml.Node) (TokenSource, error) {
	n = cfgDeref(n)
	if cfgIsNull(n) {
		return TokenSource{}, nil
	}
	if n.Kind == yaml.MappingNode {
		pairs, err := p.mapping(n, "a token source")
		if err != nil {
			return TokenSource{}, err
		}
		for _, kv := range pairs {
			if kv.key.Value == "kind" {
				return p.kindSource(n, kv.val, pairs)
			}
		}
	}
	r, err := p.modelRef(n, "a token source")
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
	if kind != "zero" && kind != "model_token" {
		return TokenSource{}, p.errorf(kindNode, "token source kind %q is not model_token or zero", kind)
	}
	ts := TokenSource{Kind: kind}
	haveToken := false
	for _, kv := range pairs {
		switch k := kv.key.Value; {
		case k == "kind":
		case kind == "model_token" && k == "model":
			var r ModelRef
			if r, err = p.modelRef(kv.val, "model"); err == nil {
				ts.Model = &r
			}
		case kind == "model_token" && k == "token":
			if !cfgIsNull(kv.val) {
				ts.Token, err = p.str(kv.val, "token")
				haveToken = true
			}
		case kind == "model_token" && k == "token_id":
			if !cfgIsNull(kv.val) {
				var id int
				if id, err = p.integer(kv.val, "token_id"); err == nil {
					ts.TokenID = &id
				}
			}
		default:
			p.warnf(kv.key, "unknown key %q ignored", k)
		}
		if err != nil {
			return TokenSource{}, err
		}
	}
	if kind == "zero" {
		return ts, nil
	}
	if ts.Model == nil {
		return TokenSource{}, p.errorf(n, "a model_token source needs a model")
	}
	if haveToken == (ts.TokenID != nil) {
		return TokenSource{}, p.errorf(n, "a model_token source needs exactly one of token and token_id")
	}
	return ts, nil
}
