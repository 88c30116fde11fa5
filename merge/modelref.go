package merge

import (
	"fmt"
	"strings"
)

// ModelRef names a model: a local directory or Hugging Face repository,
// optionally at a revision and with a LoRA adapter applied. Its string
// form is PATH[@REVISION][+LORA[@REVISION]].
type ModelRef struct {
	Path, Revision string
	LoRA           *LoRARef
	// OverrideArchitecture replaces the architectures entry of the
	// model's config.json.
	OverrideArchitecture string
	Pos                  Pos
}

// LoRARef names a LoRA adapter.
type LoRARef struct{ Path, Revision string }

// ParseModelRef parses PATH[@REVISION][+LORA[@REVISION]].
func ParseModelRef(s string) (ModelRef, error) {
	parts := strings.Split(s, "+")
	if len(parts) > 2 {
		return ModelRef{}, fmt.Errorf("model reference %q has more than one '+'", s)
	}
	var r ModelRef
	var err error
	if r.Path, r.Revision, err = splitRevision(parts[0]); err != nil {
		return ModelRef{}, fmt.Errorf("model reference %q: %w", s, err)
	}
	if len(parts) == 2 {
		var l LoRARef
		if l.Path, l.Revision, err = splitRevision(parts[1]); err != nil {
			return ModelRef{}, fmt.Errorf("model reference %q: LoRA: %w", s, err)
		}
		r.LoRA = &l
	}
	return r, nil
}

func splitRevision(s string) (path, rev string, err error) {
	parts := strings.Split(s, "@")
	switch {
	case len(parts) > 2:
		return "", "", fmt.Errorf("more than one '@' in %q", s)
	case parts[0] == "":
		return "", "", fmt.Errorf("empty path in %q", s)
	case len(parts) == 2 && parts[1] == "":
		return "", "", fmt.Errorf("empty revision in %q", s)
	case len(parts) == 2:
		return parts[0], parts[1], nil
	}
	return s, "", nil
}

// String returns the reference in its string form.
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

// Key identifies the model: two references with the same key are the same
// input.
func (r ModelRef) Key() string {
	return r.String() + "\x00" + r.OverrideArchitecture
}

// Equal reports whether two references name the same model.
func (r ModelRef) Equal(o ModelRef) bool { return r.Key() == o.Key() }
