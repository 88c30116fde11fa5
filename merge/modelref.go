package merge

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ModelRef names a model: a local directory or Hugging Face repository,
// optionally at a revision and with a LoRA adapter applied. Its string
// form is PATH[@REVISION][+LORA[@REVISION]]; its dict form is
// {model: {path, revision}, lora: {path, revision}, override_architecture}.
type ModelRef struct {
	Path, Revision string
	// LoRA is the adapter merged into the model before use, nil if none.
	LoRA *LoRARef
	// OverrideArchitecture replaces the architectures entry of the
	// model's config.json.
	OverrideArchitecture string
	// Pos is where the reference is written in the config.
	Pos Pos
}

// LoRARef names a LoRA adapter, a path with an optional revision.
type LoRARef struct{ Path, Revision string }

// ParseModelRef parses the string form PATH[@REVISION][+LORA[@REVISION]]
// as mergekit does: at most one '+', at most one '@' on each side of it,
// and no empty part.
func ParseModelRef(s string) (ModelRef, error) {
	parts := strings.Split(s, "+")
	if len(parts) > 2 {
		return ModelRef{}, fmt.Errorf("model reference %q has more than one '+'", s)
	}
	var r ModelRef
	var err error
	if r.Path, r.Revision, err = cfgSplitRevision(parts[0]); err != nil {
		return ModelRef{}, fmt.Errorf("model reference %q: %w", s, err)
	}
	if len(parts) == 2 {
		var l LoRARef
		if l.Path, l.Revision, err = cfgSplitRevision(parts[1]); err != nil {
			return ModelRef{}, fmt.Errorf("model reference %q: LoRA: %w", s, err)
		}
		r.LoRA = &l
	}
	return r, nil
}

// cfgSplitRevision splits PATH[@REVISION].
func cfgSplitRevision(s string) (path, rev string, err error) {
	path, rev, hasRev := strings.Cut(s, "@")
	switch {
	case strings.Contains(rev, "@"):
		return "", "", fmt.Errorf("more than one '@' in %q", s)
	case path == "":
		return "", "", fmt.Errorf("empty path in %q", s)
	case hasRev && rev == "":
		return "", "", fmt.Errorf("empty revision in %q", s)
	}
	return path, rev, nil
}

// String returns the reference in its string form. It parses back with
// ParseModelRef to an equal reference unless a dict-form path holds '@' or
// '+' or OverrideArchitecture is set, which the string form cannot say.
func (r ModelRef) String() string {
	s := r.Path
	if r.Revision != "" {
		s += "@" + r.Revision
	}
	if r.LoRA != nil {
		s += "+" + r.LoRA.Path
		if r.LoRA.Revision != "" {
			s += "@" + r.LoRA.Revision
		}
	}
	return s
}

// Key identifies the model by path, revision, LoRA and architecture
// override, as mergekit hashes references: two references with the same
// key are one input. Pos is not part of it.
func (r ModelRef) Key() string {
	var b strings.Builder
	b.WriteString(strconv.Quote(r.Path))
	b.WriteString(strconv.Quote(r.Revision))
	if r.LoRA != nil {
		b.WriteByte('+')
		b.WriteString(strconv.Quote(r.LoRA.Path))
		b.WriteString(strconv.Quote(r.LoRA.Revision))
	}
	b.WriteByte(' ')
	b.WriteString(strconv.Quote(r.OverrideArchitecture))
	return b.String()
}

// Equal reports whether two references name the same model (same Key).
func (r ModelRef) Equal(o ModelRef) bool { return r.Key() == o.Key() }

func (p *cfgParser) optionalModelRef(n *yaml.Node) (*ModelRef, error) {
	if cfgIsNull(n) {
		return nil, nil
	}
	r, err := p.modelRef(n, "base_model")
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// modelRef reads the string or the dict form of a model reference.
func (p *cfgParser) modelRef(n *yaml.Node, what string) (ModelRef, error) {
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode && !cfgIsNull(n) {
		r, err := ParseModelRef(n.Value)
		if err != nil {
			return ModelRef{}, p.errorf(n, "%v", err)
		}
		r.Pos = cfgPos(n)
		return r, nil
	}
	if n.Kind != yaml.MappingNode {
		return ModelRef{}, p.errorf(n, "%s must be a model reference, not %s", what, cfgKindName(n))
	}
	pairs, err := p.mapping(n, what)
	if err != nil {
		return ModelRef{}, err
	}
	r := ModelRef{Pos: cfgPos(n)}
	for _, kv := range pairs {
		switch kv.key.Value {
		case "model":
			r.Path, r.Revision, err = p.modelPath(kv.val, "model")
		case "lora":
			if cfgIsNull(kv.val) {
				r.LoRA = nil
				continue
			}
			var l LoRARef
			l.Path, l.Revision, err = p.modelPath(kv.val, "lora")
			r.LoRA = &l
		case "override_architecture":
			if !cfgIsNull(kv.val) {
				r.OverrideArchitecture, err = p.str(kv.val, "override_architecture")
			}
		default:
			p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
		}
		if err != nil {
			return ModelRef{}, err
		}
	}
	if r.Path == "" {
		return ModelRef{}, p.errorf(n, "%s needs a model: {path: ...}", what)
	}
	return r, nil
}

// modelPath reads PATH[@REVISION] or {path, revision}.
func (p *cfgParser) modelPath(n *yaml.Node, what string) (path, rev string, err error) {
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode && !cfgIsNull(n) {
		if path, rev, err = cfgSplitRevision(n.Value); err != nil {
			return "", "", p.errorf(n, "%s: %v", what, err)
		}
		return path, rev, nil
	}
	pairs, err := p.mapping(n, what)
	if err != nil {
		return "", "", err
	}
	for _, kv := range pairs {
		switch kv.key.Value {
		case "path":
			path, err = p.str(kv.val, what+".path")
		case "revision":
			rev = ""
			if !cfgIsNull(kv.val) {
				rev, err = p.str(kv.val, what+".revision")
			}
		default:
			p.warnf(kv.key, "unknown key %q ignored", kv.key.Value)
		}
		if err != nil {
			return "", "", err
		}
	}
	if path == "" {
		return "", "", p.errorf(n, "%s needs a non-empty path", what)
	}
	return path, rev, nil
}

// refOrKeyword reads "union", "base" or a model reference.
func (p *cfgParser) refOrKeyword(n *yaml.Node, what string) (*ModelRefOrKeyword, error) {
	n = cfgDeref(n)
	if n.Kind == yaml.ScalarNode && (n.Value == "union" || n.Value == "base") {
		return &ModelRefOrKeyword{Keyword: n.Value, Pos: cfgPos(n)}, nil
	}
	if n.Kind == yaml.ScalarNode && strings.HasPrefix(n.Value, "model:") {
		// mergekit dropped this prefix in 2024 (#334) and now reads it as
		// part of the path; the old meaning is the likely one.
		p.warnf(n, "the legacy \"model:\" prefix of %q is dropped", n.Value)
		c := *n
		c.Value = strings.TrimPrefix(n.Value, "model:")
		n = &c
	}
	r, err := p.modelRef(n, what)
	if err != nil {
		return nil, err
	}
	return &ModelRefOrKeyword{Model: &r, Pos: cfgPos(n)}, nil
}
