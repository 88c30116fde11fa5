package pytorch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/safetensors"
)

// File names of a PyTorch model directory, as Hugging Face writes them.
const (
	singleFile = "pytorch_model.bin"
	indexFile  = "pytorch_model.bin.index.json"
)

// Model is a model directory holding pytorch_model.bin, or
// pytorch_model.bin.index.json and the shards it names
// (pytorch_model-0000N-of-0000M.bin). It is a [safetensors.Source]; its
// methods are safe for concurrent use.
type Model struct {
	dir     string
	files   []*File
	tensors map[string]modelTensor
	names   []string
}

type modelTensor struct {
	info safetensors.TensorInfo
	file *File
}

// HasCheckpoint reports whether dir holds a PyTorch checkpoint that
// [OpenModel] would read: pytorch_model.bin.index.json or pytorch_model.bin.
func HasCheckpoint(dir string) bool {
	for _, name := range []string{indexFile, singleFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// OpenModel opens the PyTorch checkpoint in dir: the shards that
// pytorch_model.bin.index.json names, or else pytorch_model.bin. Every shard's
// pickle is read, and refused if unsafe, before OpenModel returns. Every
// weight_map entry must name a tensor its shard holds, and no tensor may be
// in two shards.
func OpenModel(dir string) (*Model, error) {
	shards, weightMap, err := modelShards(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{dir: dir, tensors: map[string]modelTensor{}}
	shardOf := map[string]string{}
	for _, shard := range shards {
		f, err := Open(filepath.Join(dir, shard))
		if err != nil {
			m.Close()
			return nil, err
		}
		m.files = append(m.files, f)
		for _, name := range f.Names() {
			if prev, dup := shardOf[name]; dup {
				m.Close()
				return nil, fmt.Errorf("%s: tensor %q is in both %s and %s", dir, name, prev, shard)
			}
			info, _ := f.Tensor(name)
			m.tensors[name] = modelTensor{info: info, file: f}
			shardOf[name] = shard
		}
	}
	for name, shard := range weightMap {
		if shardOf[name] != filepath.FromSlash(shard) {
			m.Close()
			return nil, fmt.Errorf("%s: %s maps tensor %q to %s, which does not contain it", dir, indexFile, name, shard)
		}
	}
	m.names = make([]string, 0, len(m.tensors))
	for name := range m.tensors {
		m.names = append(m.names, name)
	}
	slices.Sort(m.names)
	return m, nil
}

// modelShards returns the checkpoint files of dir, relative to it, and the
// index's weight_map if there is one.
func modelShards(dir string) ([]string, map[string]string, error) {
	indexPath := filepath.Join(dir, indexFile)
	data, err := regfile.ReadFile(indexPath, regfile.ConfigLimit)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, singleFile)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, fmt.Errorf("%s: no %s or %s: %w", dir, indexFile, singleFile, fs.ErrNotExist)
			}
			return nil, nil, err
		}
		return []string{singleFile}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return safetensors.ParseIndex(data, indexPath)
}

// Skipped returns the state dict keys of every shard whose values are not
// tensors, which are left out of Names, in shard order.
func (m *Model) Skipped() []string {
	var out []string
	for _, f := range m.files {
		out = append(out, f.Skipped()...)
	}
	return out
}

// Dir returns the model directory.
func (m *Model) Dir() string { return m.dir }

// Names returns the names of all tensors, sorted. The caller must not modify
// the slice.
func (m *Model) Names() []string { return m.names }

// Tensor returns the tensor called name as a contiguous row-major tensor:
// dtype (in safetensors' names), shape and Size in bytes. Offset is within
// the shard named by [Model.File], or -1 where the tensor is not stored
// contiguously and uncompressed.
func (m *Model) Tensor(name string) (safetensors.TensorInfo, bool) {
	mt, ok := m.tensors[name]
	return mt.info, ok
}

// File returns the path of the shard holding the tensor called name, or ""
// if there is no such tensor.
func (m *Model) File(name string) string {
	mt, ok := m.tensors[name]
	if !ok {
		return ""
	}
	return mt.file.Name()
}

// ReadTensorRange fills dst with the bytes of the tensor called name
// starting off bytes into its contiguous row-major form; see
// [File.ReadTensorRange]. It is safe for concurrent use.
func (m *Model) ReadTensorRange(name string, off int64, dst []byte) error {
	mt, ok := m.tensors[name]
	if !ok {
		return fmt.Errorf("%s: tensor %q: %w", m.dir, name, fs.ErrNotExist)
	}
	return mt.file.ReadTensorRange(name, off, dst)
}

// ReadTensor reads the whole tensor called name into dst, whose length must
// be its Size.
func (m *Model) ReadTensor(name string, dst []byte) error {
	mt, ok := m.tensors[name]
	if !ok {
		return fmt.Errorf("%s: tensor %q: %w", m.dir, name, fs.ErrNotExist)
	}
	return mt.file.ReadTensor(name, dst)
}

// Close closes every shard.
func (m *Model) Close() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

var _ safetensors.Source = (*Model)(nil)
