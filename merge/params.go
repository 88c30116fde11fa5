package merge

import (
	"fmt"
	"math"
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

// Setting is a parameter value: scalar, gradient or conditional list.
type Setting struct {
	Kind     SettingKind
	Scalar   float64
	Gradient []float64
	Conds    []Cond
	Pos      Pos
}

// Cond is one entry of a conditional list. Without a filter it matches
// every tensor.
type Cond struct {
	Filter    string
	HasFilter bool
	Value     Setting
	Pos       Pos
}

// Params maps parameter names to settings in YAML order.
type Params struct {
	m     map[string]Setting
	names []string
}

// Get returns the setting of a parameter.
func (p Params) Get(name string) (Setting, bool) {
	s, ok := p.m[name]
	return s, ok
}

// Names returns the parameter names in YAML order.
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

// NewParams builds Params from name, value pairs; values are float64, int,
// bool, []float64 or Setting. It panics on other types (programming
// errors, not input data).
func NewParams(kv ...any) Params {
	var p Params
	for i := 0; i+1 < len(kv); i += 2 {
		name := kv[i].(string)
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
			s = Setting{Kind: Gradient, Gradient: v}
		case Setting:
			s = v
		default:
			panic(fmt.Sprintf("merge.NewParams: unsupported value %T for %s", v, name))
		}
		p.set(name, s)
	}
	return p
}

// Eval evaluates the setting for a tensor name and layer fraction t in
// [0, 1]: a scalar is itself; a gradient [v0 … vk-1] is interpolated
// piecewise-linearly at s = t·(k−1); a conditional list takes the first
// entry whose filter is absent, "*", or a substring of name. ok is false
// when no entry matches.
func (s Setting) Eval(name string, t float64) (v float64, ok bool) {
	switch s.Kind {
	case Scalar:
		return s.Scalar, true
	case Gradient:
		g := s.Gradient
		if len(g) == 0 {
			return 0, false
		}
		if len(g) == 1 {
			return g[0], true
		}
		x := t * float64(len(g)-1)
		i0 := int(math.Floor(x))
		i0 = max(0, min(i0, len(g)-1))
		i1 := min(len(g)-1, i0+1)
		f := x - float64(i0)
		return (1-f)*g[i0] + f*g[i1], true
	case Conditional:
		for _, c := range s.Conds {
			if !c.HasFilter || c.Filter == "*" || strings.Contains(name, c.Filter) {
				return c.Value.Eval(name, t)
			}
		}
	}
	return 0, false
}

// params parses a parameters: mapping.
func (p *cfgParser) params(n *yaml.Node) (Params, error) {
	var out Params
	if v := cfgDeref(n); v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return out, nil
	}
	pairs, err := p.mapping(n, "parameters")
	if err != nil {
		return out, err
	}
	for _, kv := range pairs {
		if v := kv.val; v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
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

// setting parses a parameter value; conditional lists are allowed at the
// top level only.
func (p *cfgParser) setting(n *yaml.Node, name string, top bool) (Setting, error) {
	n = cfgDeref(n)
	pos := cfgPos(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			return Setting{}, p.errorf(n, "parameter %q: string %q is not a number", name, n.Value)
		}
		v, err := p.number(n, fmt.Sprintf("parameter %q", name))
		return Setting{Kind: Scalar, Scalar: v, Pos: pos}, err
	case yaml.SequenceNode:
		items := n.Content
		if len(items) == 0 {
			return Setting{}, p.errorf(n, "parameter %q: empty list", name)
		}
		if cfgDeref(items[0]).Kind == yaml.MappingNode {
			if !top {
				return Setting{}, p.errorf(n, "parameter %q: conditional lists cannot be nested", name)
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
		s := Setting{Kind: Gradient, Pos: pos}
		for _, it := range items {
			it = cfgDeref(it)
			if it.Kind != yaml.ScalarNode || it.Tag == "!!str" {
				return Setting{}, p.errorf(it, "parameter %q: gradient entries must be numbers, not %s", name, kindName(it))
			}
			v, err := p.number(it, fmt.Sprintf("parameter %q", name))
			if err != nil {
				return Setting{}, err
			}
			s.Gradient = append(s.Gradient, v)
		}
		return s, nil
	case yaml.MappingNode:
		if !top {
			return Setting{}, p.errorf(n, "parameter %q: a value must be a number or a list of numbers", name)
		}
		// mergekit wants a list here; a single {filter, value} object is
		// accepted as a list of one.
		c, err := p.cond(n, name)
		if err != nil {
			return Setting{}, err
		}
		p.warnf(n, "parameter %q: a single filter entry should be a list; read as one", name)
		return Setting{Kind: Conditional, Conds: []Cond{c}, Pos: pos}, nil
	}
	return Setting{}, p.errorf(n, "parameter %q: unsupported value", name)
}

func (p *cfgParser) cond(n *yaml.Node, name string) (Cond, error) {
	pairs, err := p.mapping(n, fmt.Sprintf("an entry of parameter %q", name))
	if err != nil {
		return Cond{}, err
	}
	c := Cond{Pos: cfgPos(n)}
	haveValue := false
	for _, kv := range pairs {
		switch kv.key.Value {
		case "filter":
			if v := cfgDeref(kv.val); v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			c.Filter, err = p.str(kv.val, "filter")
			c.HasFilter = true
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
		return Cond{}, p.errorf(n, "parameter %q: entry needs a value", name)
	}
	return c, nil
}
