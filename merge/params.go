package merge

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SettingKind is the form of a parameter value.
type SettingKind uint8

// The forms a parameter value takes.
const (
	// Scalar is a number (booleans count as 0 and 1).
	Scalar SettingKind = iota + 1
	// Gradient is a list of numbers interpolated over the layers.
	Gradient
	// Conditional is a list of {filter, value} entries.
	Conditional
)

// Setting is a parameter value: a scalar, a gradient or a conditional
// list, as Kind says.
type Setting struct {
	Kind     SettingKind
	Scalar   float64
	Gradient []float64
	Conds    []Cond
	// Pos is where the value is written in the config.
	Pos Pos
}

// Cond is one entry of a conditional list. Without a filter it matches
// every tensor. Its Value is a scalar or a gradient.
type Cond struct {
	Filter    string
	HasFilter bool
	Value     Setting
	Pos       Pos
}

// Params maps parameter names to settings and keeps their YAML order.
// The zero value is empty and ready to read.
type Params struct {
	m     map[string]Setting
	names []string
}

// Get returns the setting of a parameter.
func (p Params) Get(name string) (Setting, bool) {
	s, ok := p.m[name]
	return s, ok
}

// Names returns the parameter names in YAML order. The caller must not
// modify the slice.
func (p Params) Names() []string { return p.names }

// Len returns the number of parameters.
func (p Params) Len() int { return len(p.names) }

func (p *Params) set(name string, s Setting) {
	if p.m == nil {
		p.m = map[string]Setting{}
	}
	if _, ok := p.m[name]; !ok {
		p.names = append(p.names, name)
	}
	p.m[name] = s
}

// NewParams builds Params from name, value pairs for tests and programs:
// NewParams("weight", 0.5, "t", []float64{0, 1}). Values are float64, int,
// bool, []float64 or Setting. Other types and an odd number of arguments
// are programming errors and panic.
func NewParams(kv ...any) Params {
	if len(kv)%2 != 0 {
		panic("merge.NewParams: odd number of arguments")
	}
	var p Params
	for i := 0; i < len(kv); i += 2 {
		name, ok := kv[i].(string)
		if !ok {
			panic(fmt.Sprintf("merge.NewParams: name %v is a %T, not a string", kv[i], kv[i]))
		}
		var s Setting
		switch v := kv[i+1].(type) {
		case float64:
			s = Setting{Kind: Scalar, Scalar: v}
		case int:
			s = Setting{Kind: Scalar, Scalar: float64(v)}
		case bool:
			s = Setting{Kind: Scalar}
			if v {
				s.Scalar = 1
			}
		case []float64:
			s = Setting{Kind: Gradient, Gradient: slices.Clone(v)}
		case Setting:
			s = v
		default:
			panic(fmt.Sprintf("merge.NewParams: unsupported value %T for %s", v, name))
		}
		p.set(name, s)
	}
	return p
}

// Eval evaluates the setting for a tensor name and a layer fraction t in
// [0, 1] (values outside are clamped), as mergekit does:
//   - a scalar is itself;
//   - a gradient [v0 … vk-1] is interpolated piecewise-linearly:
//     s = t·(k−1), i0 = floor(s), i1 = min(k−1, i0+1), f = s−i0, and the
//     value is (1−f)·v[i0] + f·v[i1];
//   - a conditional list takes the first entry whose filter is absent, "*",
//     or a substring of name, and evaluates its value with the same t.
//
// ok is false when no entry of a conditional list matches, so that the
// lookup falls through to the next level of precedence.
func (s Setting) Eval(name string, t float64) (v float64, ok bool) {
	switch s.Kind {
	case Scalar:
		return s.Scalar, true
	case Gradient:
		g := s.Gradient
		if len(g) == 0 {
			return 0, false
		}
		if !(t > 0) { // also NaN
			t = 0
		}
		t = min(t, 1)
		x := t * float64(len(g)-1)
		i0 := min(int(math.Floor(x)), len(g)-1)
		i1 := min(len(g)-1, i0+1)
		f := x - float64(i0)
		return (1-f)*g[i0] + f*g[i1], true
	case Conditional:
		for _, c := range s.Conds {
			// mergekit tests `filter in name` only for a non-empty name.
			if !c.HasFilter || c.Filter == "*" || name != "" && strings.Contains(name, c.Filter) {
				return c.Value.Eval(name, t)
			}
		}
	}
	return 0, false
}

// params reads a parameters: mapping.
func (p *cfgParser) params(n *yaml.Node) (Params, error) {
	var out Params
	if cfgIsNull(n) {
		return out, nil
	}
	pairs, err := p.mapping(n, "parameters")
	if err != nil {
		return out, err
	}
	for _, kv := range pairs {
		if cfgIsNull(kv.val) {
			p.warnf(kv.key, "parameter %q has no value; ignored", kv.key.Value)
			continue
		}
		s, err := p.setting(kv.val, kv.key.Value, true)
		if err != nil {
			return out, err
		}
		out.set(kv.key.Value, s)
	}
	return out, nil
}

// setting reads a parameter value; conditional lists are allowed at the
// top level only (a condition's value is a scalar or a gradient).
func (p *cfgParser) setting(n *yaml.Node, name string, top bool) (Setting, error) {
	n = cfgDeref(n)
	pos := cfgPos(n)
	what := fmt.Sprintf("parameter %q", name)
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := p.number(n, what)
		return Setting{Kind: Scalar, Scalar: v, Pos: pos}, err
	case yaml.SequenceNode:
		items, err := p.seq(n, what)
		if err != nil {
			return Setting{}, err
		}
		if len(items) == 0 {
			return Setting{}, p.errorf(n, "%s: empty list", what)
		}
		if items[0].Kind == yaml.MappingNode {
			if !top {
				return Setting{}, p.errorf(n, "%s: a condition's value must be a number or a list of numbers", what)
			}
			s := Setting{Kind: Conditional, Pos: pos}
			for _, it := range items {
				c, err := p.cond(it, name)
				if err != nil {
					return Setting{}, err
				}
				s.Conds = append(s.Conds, c)
			}
			return s, nil
		}
		s := Setting{Kind: Gradient, Gradient: make([]float64, 0, len(items)), Pos: pos}
		for _, it := range items {
			if it.Kind != yaml.ScalarNode {
				return Setting{}, p.errorf(it, "%s: gradient entries must be numbers, not %s", what, cfgKindName(it))
			}
			v, err := p.number(it, what)
			if err != nil {
				return Setting{}, err
			}
			s.Gradient = append(s.Gradient, v)
		}
		return s, nil
	case yaml.MappingNode:
		if !top {
			return Setting{}, p.errorf(n, "%s: a condition's value must be a number or a list of numbers", what)
		}
		// mergekit validates a single {filter, value} object but then
		// fails on it; gomerge reads it as a list of one.
		c, err := p.cond(n, name)
		if err != nil {
			return Setting{}, err
		}
		p.warnf(n, "%s: a single {filter, value} entry should be in a list; read as a list of one", what)
		return Setting{Kind: Conditional, Conds: []Cond{c}, Pos: pos}, nil
	}
	return Setting{}, p.errorf(n, "%s: unsupported value", what)
}

func (p *cfgParser) cond(n *yaml.Node, name string) (Cond, error) {
	pairs, err := p.mapping(n, fmt.Sprintf("an entry of parameter %q", name))
	if err != nil {
		return Cond{}, err
	}
	c := Cond{Pos: cfgPos(cfgDeref(n))}
	haveValue := false
	for _, kv := range pairs {
		switch kv.key.Value {
		case "filter":
			c.Filter, c.HasFilter = "", false
			if !cfgIsNull(kv.val) {
				c.Filter, err = p.str(kv.val, "filter")
				c.HasFilter = true
			}
		case "value":
			c.Value, err = p.setting(kv.val, name, false)
			haveValue = true
		default:
			p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
		}
		if err != nil {
			return Cond{}, err
		}
	}
	if !haveValue {
		return Cond{}, p.errorf(n, "parameter %q: an entry needs a value", name)
	}
	return c, nil
}
