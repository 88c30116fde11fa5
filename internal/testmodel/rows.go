package testmodel

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// SetRows rewrites the float32 matrices named in names (embed_tokens,
// lm_head, ...) of the single-file model in dir with rows, keeping every
// other tensor.
func SetRows(dir string, names []string, rows [][]float32) error {
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	var specs []safetensors.TensorSpec
	data := map[string][]byte{}
	for _, n := range m.Names() {
		info, _ := m.Tensor(n)
		raw := make([]byte, info.Size)
		if err := m.ReadTensor(n, raw); err != nil {
			m.Close()
			return err
		}
		if set[n] {
			if info.DType != safetensors.F32 || len(info.Shape) != 2 || int(info.Shape[0]) != len(rows) {
				m.Close()
				return fmt.Errorf("testmodel: %s is %s %v, not float32 with %d rows", n, info.DType, info.Shape, len(rows))
			}
			var flat []float32
			for _, r := range rows {
				flat = append(flat, r...)
			}
			if err := tensor.Encode(raw, flat, tensor.F32); err != nil {
				m.Close()
				return err
			}
		}
		data[n] = raw
		specs = append(specs, safetensors.TensorSpec{Name: n, DType: info.DType, Shape: info.Shape})
	}
	m.Close()
	if err := os.Remove(filepath.Join(dir, "model.safetensors")); err != nil {
		return err
	}
	w, err := safetensors.Create(dir, specs, safetensors.WriterOptions{})
	if err != nil {
		return err
	}
	for _, s := range specs {
		if err := w.WriteTensor(s.Name, data[s.Name]); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}
