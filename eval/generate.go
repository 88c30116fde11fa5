package eval

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// DefaultMaxGenToks is lm-eval's default number of generated tokens.
const DefaultMaxGenToks = 256

// Generation is a generate_until task's generation_kwargs. Generation is
// greedy: a task that asks for sampling is refused.
type Generation struct {
	// Until holds the stop strings: the answer is the generated text up to
	// the first of them (lm-eval adds the model's EOS).
	Until []string
	// MaxGenToks bounds the generated tokens (0: DefaultMaxGenToks).
	MaxGenToks int
	// kwargs is generation_kwargs as the task file wrote it, for sample
	// logs (nil: built from Until).
	kwargs pyDict
}

func (g *Generation) maxGenToks() int {
	if g.MaxGenToks > 0 {
		return g.MaxGenToks
	}
	return DefaultMaxGenToks
}

// args is the dict the harness logs as a generation request's second
// argument.
func (g *Generation) args() pyDict {
	if g.kwargs != nil {
		return g.kwargs
	}
	until := make([]any, len(g.Until))
	for i, u := range g.Until {
		until[i] = u
	}
	d := pyDict{{"until", until}, {"do_sample", false}}
	if g.MaxGenToks > 0 {
		d = append(d, pyItem{"max_gen_toks", g.MaxGenToks})
	}
	return d
}

// Filter is one of lm-eval's filter pipelines: its steps turn a generated
// text into the answer scored, and its name labels the metrics
// ("exact_match,flexible-extract").
type Filter struct {
	Name  string
	Steps []FilterStep
}

// FilterStep is one filter function: take_first, remove_whitespace
// (Python's str.strip), lowercase, uppercase, or regex (Pattern,
// GroupSelect, Fallback "[invalid]" by default) as lm-eval's RegexFilter:
// the GroupSelect-th match of re.findall (negative counts from the end),
// its first non-empty group when the pattern has groups, stripped.
type FilterStep struct {
	Function    string
	Pattern     string
	GroupSelect int
	Fallback    string
	re          *regexp.Regexp
}

// MatchOptions are exact_match's options: regexes removed from both
// strings first, then case folded, ASCII punctuation (Python's
// string.punctuation) and digits removed.
type MatchOptions struct {
	IgnoreCase, IgnorePunctuation, IgnoreNumbers bool
	RegexesToIgnore                              []string
	res                                          []*regexp.Regexp
}

// metricEntry is one metric_list mapping.
type metricEntry struct {
	Metric            string   `yaml:"metric"`
	IgnoreCase        bool     `yaml:"ignore_case"`
	IgnorePunctuation bool     `yaml:"ignore_punctuation"`
	IgnoreNumbers     bool     `yaml:"ignore_numbers"`
	RegexesToIgnore   []string `yaml:"regexes_to_ignore"`
}

func (m *metricEntry) apply(o *MatchOptions) error {
	if m.Metric != "exact_match" {
		if m.IgnoreCase || m.IgnorePunctuation || m.IgnoreNumbers || m.RegexesToIgnore != nil {
			return fmt.Errorf("ignore_* options belong to exact_match, not %s", m.Metric)
		}
		return nil
	}
	o.IgnoreCase, o.IgnorePunctuation, o.IgnoreNumbers = m.IgnoreCase, m.IgnorePunctuation, m.IgnoreNumbers
	o.RegexesToIgnore = m.RegexesToIgnore
	return o.compile()
}

func (o *MatchOptions) compile() error {
	o.res = o.res[:0]
	for _, p := range o.RegexesToIgnore {
		re, err := regexp.Compile(p)
		if err != nil {
			return fmt.Errorf("regexes_to_ignore %q: %v", p, err)
		}
		o.res = append(o.res, re)
	}
	return nil
}

// pyPunctuation is Python's string.punctuation.
const pyPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

func (o *MatchOptions) normalize(s string, res []*regexp.Regexp) string {
	for _, re := range res {
		s = re.ReplaceAllString(s, "")
	}
	if o.IgnoreCase {
		s = pyLower(s)
	}
	if o.IgnorePunctuation {
		s = strings.Map(func(r rune) rune {
			if r < 0x80 && strings.ContainsRune(pyPunctuation, r) {
				return -1
			}
			return r
		}, s)
	}
	if o.IgnoreNumbers {
		s = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return -1
			}
			return r
		}, s)
	}
	return s
}

// ExactMatch is lm-eval's exact_match for one prediction: 1 when it
// equals the reference after the options' normalisation.
// A pattern that does not compile counts as a mismatch (task files are
// checked when loaded).
func (o *MatchOptions) ExactMatch(prediction, reference string) float64 {
	res := o.res
	if len(res) != len(o.RegexesToIgnore) {
		// Options built in Go: compiled here, not stored, so that a Task
		// shared by concurrent scorers is only read.
		c := MatchOptions{RegexesToIgnore: o.RegexesToIgnore}
		if err := c.compile(); err != nil {
			return 0
		}
		res = c.res
	}
	if o.normalize(prediction, res) == o.normalize(reference, res) {
		return 1
	}
	return 0
}

// Apply runs the filter's steps on one generated text.
func (f *Filter) Apply(resp string) (string, error) {
	for i := range f.Steps {
		st := &f.Steps[i]
		switch st.Function {
		case "take_first":
		case "remove_whitespace":
			resp = strings.TrimFunc(resp, pyIsSpace)
		case "lowercase":
			resp = pyLower(resp)
		case "uppercase":
			resp = pyUpper(resp)
		case "regex":
			re := st.re
			if re == nil {
				// A step built in Go: compiled here, not stored (see ExactMatch).
				c := FilterStep{Pattern: st.Pattern}
				if err := c.compile(); err != nil {
					return "", err
				}
				re = c.re
			}
			resp = st.regex(re, resp)
		default:
			return "", fmt.Errorf("filter %s: unknown function %q", f.Name, st.Function)
		}
	}
	return resp, nil
}

func (st *FilterStep) compile() error {
	p := st.Pattern
	if p == "" {
		p = `#### (\-?[0-9\.\,]+)` // RegexFilter's default
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return fmt.Errorf("regex_pattern %q: %v (Go's RE2 syntax: no look-around or back-references)", p, err)
	}
	st.re = re
	return nil
}

// regex is RegexFilter on one response.
func (st *FilterStep) regex(re *regexp.Regexp, resp string) string {
	fallback := st.Fallback
	if fallback == "" {
		fallback = "[invalid]"
	}
	all := re.FindAllStringSubmatch(resp, -1)
	if len(all) == 0 {
		return fallback
	}
	i := st.GroupSelect
	if i < 0 {
		i += len(all)
	}
	if i < 0 || i >= len(all) {
		return fallback // Python raises IndexError here
	}
	m := all[i]
	var s string
	switch len(m) {
	case 1: // no groups: findall returns the whole match
		s = m[0]
	case 2: // one group: findall returns it
		s = m[1]
	default: // several: the first non-empty one
		s = fallback
		for _, g := range m[1:] {
			if g != "" {
				s = g
				break
			}
		}
	}
	return strings.TrimFunc(s, pyIsSpace)
}

// parseGeneration reads generation_kwargs and filter_list.
func parseGeneration(t *Task, f *taskFile, source string) error {
	if f.GenerationKwargs.Kind != 0 && t.Type != GenerateUntil {
		return fmt.Errorf("%s:%d: %w: generation_kwargs needs output_type generate_until", source, f.GenerationKwargs.Line, ErrFormat)
	}
	if f.FilterList != nil && t.Type != GenerateUntil {
		return fmt.Errorf("%s:%d: %w: filter_list needs output_type generate_until", source, f.FilterList[0].Line, ErrFormat)
	}
	if n := &f.GenerationKwargs; n.Kind != 0 {
		g, err := generationFromYAML(n)
		if err != nil {
			return fmt.Errorf("%s:%d: %w: generation_kwargs: %v", source, n.Line, ErrFormat, err)
		}
		t.Generation = g
	}
	for i := range f.FilterList {
		n := &f.FilterList[i]
		var fl struct {
			Name   string `yaml:"name"`
			Filter []struct {
				Function     string  `yaml:"function"`
				RegexPattern string  `yaml:"regex_pattern"`
				GroupSelect  int     `yaml:"group_select"`
				Fallback     *string `yaml:"fallback"`
			} `yaml:"filter"`
		}
		if err := n.Decode(&fl); err != nil {
			return fmt.Errorf("%s:%d: %w: filter_list: %v", source, n.Line, ErrFormat, err)
		}
		if fl.Name == "" {
			fl.Name = "none"
		}
		flt := Filter{Name: fl.Name}
		for _, s := range fl.Filter {
			st := FilterStep{Function: s.Function, Pattern: s.RegexPattern, GroupSelect: s.GroupSelect}
			if s.Fallback != nil {
				st.Fallback = *s.Fallback
			}
			switch s.Function {
			case "take_first", "remove_whitespace", "lowercase", "uppercase":
			case "regex":
				if err := st.compile(); err != nil {
					return fmt.Errorf("%s:%d: %w: filter %s: %v", source, n.Line, ErrFormat, fl.Name, err)
				}
			default:
				return fmt.Errorf("%s:%d: %w: filter %s: function %q (want take_first, remove_whitespace, lowercase, uppercase or regex)", source, n.Line, ErrFormat, fl.Name, s.Function)
			}
			flt.Steps = append(flt.Steps, st)
		}
		t.Filters = append(t.Filters, flt)
	}
	return nil
}

// generationFromYAML reads generation_kwargs, keeping the mapping in
// order for sample logs.
func generationFromYAML(n *yaml.Node) (*Generation, error) {
	v, err := yamlToPy(n, 0)
	if err != nil {
		return nil, err
	}
	d, ok := v.(pyDict)
	if !ok {
		return nil, errors.New("want a mapping")
	}
	g := &Generation{kwargs: d}
	if u, ok := d.get("until"); ok {
		switch x := u.(type) {
		case string:
			g.Until = []string{x}
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("until: %v is not a string", e)
				}
				g.Until = append(g.Until, s)
			}
		default:
			return nil, errors.New("until: want a string or a list of strings")
		}
	}
	for _, k := range []string{"max_completion_tokens", "max_tokens", "max_new_tokens", "max_gen_toks"} {
		if v, ok := d.get(k); ok {
			n, ok := v.(int)
			if !ok || n <= 0 {
				return nil, fmt.Errorf("%s: want a positive integer", k)
			}
			g.MaxGenToks = n
		}
	}
	if v, ok := d.get("do_sample"); ok && v == true {
		return nil, errors.New("do_sample: gomerge generates greedily only")
	}
	if v, ok := d.get("temperature"); ok {
		if f, ok := v.(pyFloat); ok && f != 0 {
			if ds, set := d.get("do_sample"); !set || ds != false {
				return nil, errors.New("temperature > 0 samples: gomerge generates greedily only")
			}
		}
	}
	return g, nil
}

// yamlToPy turns a YAML node into pyDict, []any, string, int, pyFloat,
// bool or nil.
func yamlToPy(n *yaml.Node, depth int) (any, error) {
	if depth > 16 {
		return nil, errors.New("nested too deeply")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return yamlToPy(n.Alias, depth+1)
	case yaml.MappingNode:
		d := pyDict{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := yamlToPy(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			d = append(d, pyItem{n.Content[i].Value, v})
		}
		return d, nil
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			v, err := yamlToPy(c, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int":
			i, err := strconv.Atoi(n.Value)
			if err != nil {
				var x int
				err = n.Decode(&x)
				i = x
			}
			return i, err
		case "!!float":
			var f float64
			err := n.Decode(&f)
			return pyFloat(f), err
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// TokenGenerator is an LM that can continue a token sequence greedily:
// a local model (its Session). GenerateGreedy feeds prompt and then picks
// the most likely token, passing each to yield, until yield returns
// false, a token of stop is chosen (it is passed to yield and returned,
// last) or maxNew tokens were made.
type TokenGenerator interface {
	GenerateGreedy(ctx context.Context, prompt []int, maxNew int, stop []int, yield func(tok int) bool) ([]int, error)
}

// Decoder is a Tokenizer that can turn ids back into text (skipping
// special tokens), which generation with a TokenGenerator needs.
type Decoder interface {
	Decode(ids []int) string
}

// GenerateRequest is one text generation request: lm-eval's (context,
// generation_kwargs) pair.
type GenerateRequest struct {
	Context    string
	Until      []string
	MaxGenToks int
}

// TextGenerator is an LM that generates from text itself, as an
// OpenAI-compatible completions server does (Endpoint).
type TextGenerator interface {
	GenerateText(ctx context.Context, reqs []GenerateRequest) ([]string, error)
}

// cutAtStops is the harness's post-processing: the text before the first
// occurrence of each stop string, in turn.
func cutAtStops(s string, until []string) string {
	for _, u := range until {
		if u != "" {
			s, _, _ = strings.Cut(s, u)
		}
	}
	return s
}

// generateTokens generates one answer with a TokenGenerator: the context
// is encoded and left-truncated to MaxLength()−max_gen_toks tokens as
// HFLM does, generation stops at EOS, at max_gen_toks or once a stop
// string appears in the decoded text.
func generateTokens(ctx context.Context, lm LM, g TokenGenerator, dec Decoder, enc *encoder, eos []int, context string, gen *Generation) (string, error) {
	ids, err := enc.encode(context)
	if err != nil {
		return "", err
	}
	maxNew := gen.maxGenToks()
	maxCtx := lm.MaxLength() - maxNew
	if maxCtx <= 0 {
		return "", fmt.Errorf("eval: max_gen_toks %d leaves no room for a context in the model's %d positions", maxNew, lm.MaxLength())
	}
	if len(ids) > maxCtx {
		ids = ids[len(ids)-maxCtx:]
	}
	if len(ids) == 0 {
		return "", errors.New("eval: empty generation context")
	}
	var out []int
	toks, err := g.GenerateGreedy(ctx, ids, maxNew, eos, func(tok int) bool {
		out = append(out, tok)
		for _, e := range eos {
			if tok == e {
				return false
			}
		}
		text := dec.Decode(out)
		for _, u := range gen.Until {
			if u != "" && strings.Contains(text, u) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return "", err
	}
	for len(toks) > 0 && containsInt(eos, toks[len(toks)-1]) {
		toks = toks[:len(toks)-1]
	}
	return cutAtStops(dec.Decode(toks), gen.Until), nil
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// pyLower and pyUpper are Python's str.lower and str.upper, which apply
// Unicode's full case mapping ("Straße" → "STRASSE", a final Σ → ς,
// "İ" → "i̇"); strings.ToLower and ToUpper map rune by rune. A Caser keeps
// state, so each call makes its own.
func pyLower(s string) string { return cases.Lower(language.Und).String(s) }

func pyUpper(s string) string { return cases.Upper(language.Und).String(s) }
