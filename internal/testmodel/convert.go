package testmodel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// CopyAs writes the model in src to the new directory dst with every
// tensor converted to dt (rounded to nearest even), and src's config.json
// copied, edited by edit when it is not nil: the same weights in another
// dtype, for tests that compare two paths on identical inputs.
func CopyAs(dst, src string, dt tensor.DType, edit func(map[string]any)) error {
	in, err := safetensors.OpenModel(src)
	if err != nil {
		return err
	}
	defer in.Close()
	var specs []safetensors.TensorSpec
	for _, name := range in.Names() {
		info, _ := in.Tensor(name)
		specs = append(specs, safetensors.TensorSpec{Name: name, DType: safetensors.DType(dt.String()), Shape: info.Shape})
	}
	w, err := safetensors.Create(dst, specs, safetensors.WriterOptions{})
	if err != nil {
		return err
	}
	defer w.Abort()
	for _, name := range in.Names() {
		info, _ := in.Tensor(name)
		raw := make([]byte, info.Size)
		if err := in.ReadTensor(name, raw); err != nil {
			return err
		}
		sdt, err := tensor.ParseDType(string(info.DType))
		if err != nil {
			return fmt.Errorf("%s: tensor %s: %w", src, name, err)
		}
		v := make([]float32, info.NumElements())
		if err := tensor.Decode(v, raw, sdt); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", src, name, err)
		}
		out := make([]byte, len(v)*dt.Size())
		if err := tensor.Encode(out, v, dt); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", src, name, err)
		}
		if err := w.WriteTensor(name, out); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		return err
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(cfg, &m); err != nil {
			return fmt.Errorf("%s: config.json: %w", src, err)
		}
		edit(m)
		if cfg, err = json.MarshalIndent(m, "", "  "); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dst, "config.json"), cfg, 0o644)
}
