package merge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomerge/gomerge/lora"
	"github.com/gomerge/gomerge/merge/arch"
	"github.com/gomerge/gomerge/safetensors"
)

// SourceModel is one input model: its directory, config.json and tensors.
type SourceModel struct {
	Ref ModelRef
	// Dir is the resolved model directory.
	Dir string
	// Config is the parsed config.json (numbers kept as json.Number).
	Config map[string]any
	// Arch is the tensor catalogue used for this model.
	Arch *arch.Arch
	// Layers is the model's decoder layer count.
	Layers int
	// Tensors are the model's weights: its safetensors files, or another
	// Source presenting itself the same way.
	Tensors safetensors.Source
	// Local is true when the reference named a local directory (not a
	// hub repository).
	Local bool
}

// resolveModelDir finds the directory of a model reference: a local
// directory, relative to dir when not absolute.
func resolveModelDir(ref ModelRef, dir string) (string, error) {
	return resolveLocal(ref, ref.Path, dir)
}

// resolveLocal finds the local directory p of a model or adapter named in
// ref, relative to dir when not absolute.
func resolveLocal(ref ModelRef, p, dir string) (string, error) {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	st, err := os.Stat(p)
	if err == nil && st.IsDir() {
		return p, nil
	}
	if err == nil {
		return "", fmt.Errorf("model %s: %s is not a directory", ref.String(), p)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("model %s: no such directory %s (Hugging Face hub downloads are not supported yet)", ref.String(), p)
	}
	return "", fmt.Errorf("model %s: %w", ref.String(), err)
}

// openSourceModel reads the config and validates every safetensors header
// of a model; it reads no tensor data.
func openSourceModel(ref ModelRef, dir string) (*SourceModel, error) {
	d, err := resolveModelDir(ref, dir)
	if err != nil {
		return nil, err
	}
	m := &SourceModel{Ref: ref, Dir: d, Local: true}
	cfgPath := filepath.Join(d, "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", ref.String(), err)
	}
	if m.Config, err = decodeJSONObject(raw); err != nil {
		return nil, fmt.Errorf("model %s: %s: %w", ref.String(), cfgPath, err)
	}
	if ref.OverrideArchitecture != "" {
		m.Config["architectures"] = []any{ref.OverrideArchitecture}
	}
	if m.Arch, err = lookupArch(m.Config); err != nil {
		return nil, fmt.Errorf("model %s: %s: %w", ref.String(), cfgPath, err)
	}
	if m.Arch != nil {
		if m.Layers, _, err = m.Arch.NumLayers(m.Config); err != nil {
			return nil, fmt.Errorf("model %s: %s: %w", ref.String(), cfgPath, err)
		}
	}
	if m.Tensors, err = safetensors.OpenModel(d); err != nil {
		return nil, fmt.Errorf("model %s: %w", ref.String(), err)
	}
	if ref.LoRA != nil {
		if err := applyLoRA(m, dir); err != nil {
			m.Tensors.Close()
			return nil, err
		}
	}
	return m, nil
}

// applyLoRA puts the model's adapter over its tensors. The adapter is
// applied while tensors stream, so mergekit's --lora-merge-cache is not
// needed (and is ignored).
func applyLoRA(m *SourceModel, dir string) error {
	ad, err := resolveLocal(m.Ref, m.Ref.LoRA.Path, dir)
	if err != nil {
		return err
	}
	a, err := lora.Open(ad)
	if err != nil {
		return fmt.Errorf("model %s: %w", m.Ref.String(), err)
	}
	lm, err := lora.Apply(m.Tensors, a)
	if err != nil {
		a.Close()
		return fmt.Errorf("model %s: %w", m.Ref.String(), err)
	}
	m.Tensors = lm
	return nil
}

// inferArch gives every model one architecture inferred from the tensor
// names of all of them; it is used when some model's architecture has no
// table (mergekit's architecture/auto.py).
func inferArch(models []*SourceModel) error {
	names := make([][]string, len(models))
	for i, m := range models {
		names[i] = m.Tensors.Names()
	}
	a, err := arch.Infer(names)
	if err != nil {
		return err
	}
	for _, m := range models {
		m.Arch, m.Layers = a, a.FixedLayers
	}
	return nil
}

func lookupArch(cfg map[string]any) (*arch.Arch, error) {
	list, _ := cfg["architectures"].([]any)
	if len(list) != 1 {
		return nil, fmt.Errorf("\"architectures\" must list exactly one architecture, found %d", len(list))
	}
	name, _ := list[0].(string)
	mt, _ := cfg["model_type"].(string)
	a, _ := arch.Lookup(name, mt)
	return a, nil
}

func decodeJSONObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// configSet sets a dotted key path, creating nothing: it reports false when
// a parent object is missing.
func configSet(cfg map[string]any, key string, v any) bool {
	parts := strings.Split(key, ".")
	m := cfg
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return false
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
	return true
}
