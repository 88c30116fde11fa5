package kraken

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ErrConfig is wrapped by every error about a Kraken config.
var ErrConfig = errors.New("kraken config")

// MaxExperts is how many experts the original can choose from: its
// modeling files pick the expert by indexing the hard-coded list
// ['expert1', …, 'expert5'] (['lora_expert1', …] for Kraken-LoRA) with the
// router's class index.
const MaxExperts = 5

// Config is Kraken's source config.json, the input of the original's save
// notebook, and (under config_dict) the heart of a built Kraken.
type Config struct {
	// Models maps expertK to the expert's model (a Hugging Face id or a
	// directory); for Kraken-LoRA it holds only "base".
	Models map[string]string
	// Tokenizers maps expertK (lora_expertK) to the directory or id of its
	// tokenizer, whose chat template the expert is prompted with.
	Tokenizers map[string]string
	// Quantization maps a model key to null, "8bit", "4bit" or "awq": how
	// the Python original loads it. gomerge runs every model at its stored
	// precision and only carries the field along.
	Quantization map[string]*string
	// ClassIndices maps each of the router's labels to the index k of the
	// expert it selects, expert(k+1).
	ClassIndices map[string]int
	// Router is the sequence classifier's directory or id.
	Router string
	// ModelType is "kraken".
	ModelType string
	// LoraAdapters maps lora_expertK to a PEFT adapter directory (or id)
	// for the base model: present only in Kraken-LoRA.
	LoraAdapters map[string]string

	// raw keeps every field as given, unknown ones included, for
	// config_dict.
	raw map[string]json.RawMessage
}

// IsLoRA reports whether the config is a Kraken-LoRA: one base model and
// an adapter per expert.
func (c *Config) IsLoRA() bool { return c.LoraAdapters != nil }

// ExpertKey returns the key the original chooses for class index k:
// expert(k+1), or lora_expert(k+1) for Kraken-LoRA.
func (c *Config) ExpertKey(k int) string {
	if c.IsLoRA() {
		return "lora_expert" + strconv.Itoa(k+1)
	}
	return "expert" + strconv.Itoa(k+1)
}

// Experts returns the expert keys that class_indices can select, sorted.
func (c *Config) Experts() []string {
	seen := map[string]bool{}
	for _, k := range c.ClassIndices {
		seen[c.ExpertKey(k)] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// Parse reads a Kraken config.json. It checks types only; Validate checks
// that the config can route.
func Parse(data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrConfig)
	}
	c := &Config{raw: raw}
	fields := []struct {
		key string
		dst any
	}{
		{"models", &c.Models}, {"tokenizers", &c.Tokenizers}, {"quantization", &c.Quantization},
		{"class_indices", &c.ClassIndices}, {"router", &c.Router}, {"model_type", &c.ModelType},
		{"lora_adapters", &c.LoraAdapters},
	}
	for _, f := range fields {
		v, ok := raw[f.key]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConfig, f.key, err)
		}
	}
	if _, ok := raw["lora_adapters"]; ok && c.LoraAdapters == nil {
		c.LoraAdapters = map[string]string{}
	}
	return c, nil
}

// Validate checks that every route the config allows works in the
// original: model_type kraken, a router, class indices within the five
// hard-coded expert keys, a model (or adapter) and a tokenizer for every
// key an index selects, known quantization values. It returns warnings
// about what the original tolerates but is likely a mistake, or that
// gomerge ignores (quantization).
func (c *Config) Validate() (warnings []string, err error) {
	fail := func(format string, args ...any) ([]string, error) {
		return nil, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.ModelType != "kraken" {
		return fail("model_type is %q, want \"kraken\"", c.ModelType)
	}
	if strings.TrimSpace(c.Router) == "" {
		return fail("router is missing: the directory or id of the sequence classifier that picks the expert")
	}
	if len(c.ClassIndices) == 0 {
		return fail("class_indices is missing or empty: it maps the router's labels (LABEL_0, …) to expert indices")
	}
	experts := c.Models
	what := "models"
	if c.IsLoRA() {
		if _, ok := c.Models["base"]; !ok || len(c.Models) != 1 {
			return fail("a Kraken-LoRA (lora_adapters present) needs models to hold exactly one key, \"base\"; got %q", slices.Sorted(maps.Keys(c.Models)))
		}
		if c.Models["base"] == "" {
			return fail("models.base is empty")
		}
		experts, what = c.LoraAdapters, "lora_adapters"
	}
	if len(experts) > MaxExperts {
		return fail("%s has %d experts; the original picks from the hard-coded list %s..%s, so at most %d can ever answer",
			what, len(experts), c.ExpertKey(0), c.ExpertKey(MaxExperts-1), MaxExperts)
	}
	for _, label := range slices.Sorted(maps.Keys(c.ClassIndices)) {
		k := c.ClassIndices[label]
		if k < 0 || k >= MaxExperts {
			return fail("class_indices[%q] is %d; the original indexes the hard-coded list %s..%s with it, so it must be 0..%d",
				label, k, c.ExpertKey(0), c.ExpertKey(MaxExperts-1), MaxExperts-1)
		}
		key := c.ExpertKey(k)
		if v, ok := experts[key]; !ok || v == "" {
			return fail("class_indices[%q] is %d, which selects %s, but %s has no %s", label, k, key, what, key)
		}
		if v, ok := c.Tokenizers[key]; !ok || v == "" {
			return fail("class_indices[%q] selects %s, but tokenizers has no %s (its chat template renders the prompt)", label, key, key)
		}
	}
	chosen := c.Experts()
	for _, key := range slices.Sorted(maps.Keys(experts)) {
		if !slices.Contains(chosen, key) {
			warnings = append(warnings, fmt.Sprintf("%s.%s is never chosen: no class_indices value selects it", what, key))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(c.Quantization)) {
		q := c.Quantization[key]
		if q == nil {
			continue
		}
		switch *q {
		case "8bit", "4bit", "awq":
			warnings = append(warnings, fmt.Sprintf("quantization.%s is %q: kept in config_dict for the Python loader; gomerge runs the model at its stored precision", key, *q))
		default:
			return fail("quantization.%s is %q, want null, \"8bit\", \"4bit\" or \"awq\"", key, *q)
		}
	}
	// The original indexes config_dict['quantization'] (and, for
	// Kraken-LoRA, quantization['base']): Build writes null for what is
	// missing.
	if _, ok := c.Quantization["base"]; c.Quantization == nil || c.IsLoRA() && !ok {
		warnings = append(warnings, "quantization is missing (or has no base for Kraken-LoRA): written as null, which the Python loader needs")
	}
	return warnings, nil
}

// dict returns the config as config_dict: every field as given, with the
// listed replacements of path fields.
func (c *Config) dict() map[string]any {
	out := map[string]any{}
	for k, v := range c.raw {
		out[k] = v
	}
	set := func(key string, v any) {
		if _, ok := c.raw[key]; ok || v != nil {
			out[key] = v
		}
	}
	set("models", c.Models)
	set("tokenizers", c.Tokenizers)
	set("router", c.Router)
	q := maps.Clone(c.Quantization)
	if q == nil {
		q = map[string]*string{}
	}
	for k := range c.Models {
		if _, ok := q[k]; !ok {
			q[k] = nil
		}
	}
	out["quantization"] = q
	if c.IsLoRA() {
		set("lora_adapters", c.LoraAdapters)
	}
	return out
}

// clone returns a deep copy of c's path maps, for rewriting.
func (c *Config) clone() *Config {
	d := *c
	d.Models = maps.Clone(c.Models)
	d.Tokenizers = maps.Clone(c.Tokenizers)
	d.LoraAdapters = maps.Clone(c.LoraAdapters)
	return &d
}
