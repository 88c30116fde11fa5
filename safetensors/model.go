package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
)

// File names of a model directory, as Hugging Face and mergekit write them.
const (
	singleFile = "model.safetensors"
	indexFile  = "model.safetensors.index.json"
)

// Model is a model directory holding either model.safetensors or
// model.safetensors.index.json and the shards it names.
// Its methods are safe for concurrent use.
type Model struct {
	dir     string
	files   []*File
	tensors map[string]modelTensor
	names   []string
	total   int64
}

type modelTensor struct {
	info TensorInfo
	file int // index into Model.files
}

// index is the JSON of model.safetensors.index.json.
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenModel opens the model in dir. It reads model.safetensors.index.json if
// present, otherwise model.safetensors, and validates every shard header up
// front. Every weight_map entry must name a tensor that its shard holds, and
// no tensor may appear in two shards. Tensors that a shard holds but the
// weight_map omits are included.
func OpenModel(dir string) (*Model, error) {
	shards, weightMap, err := modelShards(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{dir: dir, tensors: make(map[string]modelTensor)}
	for i, shard := range shards {
		f, err := Open(filepath.Join(dir, shard))
		if err != nil {
			m.Close()
			return nil, err
		}
		m.files = append(m.files, f)
		for _, t := range f.Tensors() {
			if prev, dup := m.tensors[t.Name]; dup {
				m.Close()
				return nil, fmt.Errorf("%s: tensor %q is in both %s and %s", dir, t.Name, shards[prev.file], shard)
			}
			m.tensors[t.Name] = modelTensor{info: t, file: i}
			m.total += t.Size
		}
	}
	for name, shard := range weightMap {
		mt, ok := m.tensors[name]
		if !ok || shards[mt.file] != filepath.FromSlash(shard) {
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

// modelShards returns the shard files of the model in dir, relative to dir,
// and the index's weight_map if there is one.
func modelShards(dir string) ([]string, map[string]string, error) {
	indexPath := filepath.Join(dir, indexFile)
	data, err := regfile.ReadFile(indexPath, regfile.ConfigLimit)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, singleFile)); err == nil {
			return []string{singleFile}, nil, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		return nil, nil, notFound(dir)
	}
	if err != nil {
		return nil, nil, err
	}
	return ParseIndex(data, indexPath)
}

// ParseIndex reads a sharded checkpoint's index (model.safetensors.index.json,
// pytorch_model.bin.index.json): it returns the shard files named in its
// weight_map, sorted and relative to the model directory, and the map. A
// shard path that leaves the directory is an error: an index may come from
// an untrusted download. indexPath is used in errors.
func ParseIndex(data []byte, indexPath string) ([]string, map[string]string, error) {
	var idx index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", indexPath, err)
	}
	if idx.WeightMap == nil {
		return nil, nil, fmt.Errorf("%s: no weight_map", indexPath)
	}
	var shards []string
	for name, shard := range idx.WeightMap {
		if !filepath.IsLocal(filepath.FromSlash(shard)) {
			return nil, nil, fmt.Errorf("%s: tensor %q: shard %q is not a file inside the model directory", indexPath, name, shard)
		}
		shards = append(shards, filepath.FromSlash(shard))
	}
	slices.Sort(shards)
	return slices.Compact(shards), idx.WeightMap, nil
}

func notFound(dir string) error {
	var others []string
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".safetensors") {
				others = append(others, e.Name())
			}
		}
	}
	msg := fmt.Sprintf("%s: no %s or %s", dir, indexFile, singleFile)
	if len(others) > 0 {
		msg += " (found " + strings.Join(others, ", ") + ")"
	}
	return fmt.Errorf("%s: %w", msg, fs.ErrNotExist)
}

// Dir returns the model directory.
func (m *Model) Dir() string { return m.dir }

// Names returns the names of all tensors, sorted. The caller must not modify
// the returned slice.
func (m *Model) Names() []string { return m.names }

// Tensor returns the tensor called name and whether it exists. Its Offset is
// within the shard named by [Model.File].
func (m *Model) Tensor(name string) (TensorInfo, bool) {
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
	return m.files[mt.file].Name()
}

// ReadTensor reads the data of the tensor called name into dst, whose length
// must equal the tensor's Size. Errors name the file and the tensor.
func (m *Model) ReadTensor(name string, dst []byte) error {
	mt, ok := m.tensors[name]
	if !ok {
		return fmt.Errorf("%s: tensor %q: %w", m.dir, name, fs.ErrNotExist)
	}
	return m.files[mt.file].ReadTensorAt(mt.info, dst)
}

// ReadTensorRange reads len(dst) bytes of the tensor called name, starting
// off bytes into its data. It is safe for concurrent use.
func (m *Model) ReadTensorRange(name string, off int64, dst []byte) error {
	mt, ok := m.tensors[name]
	if !ok {
		return fmt.Errorf("%s: tensor %q: %w", m.dir, name, fs.ErrNotExist)
	}
	return m.files[mt.file].ReadTensorRange(mt.info, off, dst)
}

// MapTensor maps a tensor's data read-only; see [File.MapTensor].
func (m *Model) MapTensor(name string) (*Mapping, error) {
	mt, ok := m.tensors[name]
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: %w", m.dir, name, fs.ErrNotExist)
	}
	return m.files[mt.file].MapTensor(name)
}

// TotalSize returns the total data size of all tensors in bytes.
func (m *Model) TotalSize() int64 { return m.total }

// Close closes all shard files.
func (m *Model) Close() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// PrefetchTensor starts reading a tensor's data into the page cache in the
// background; see [File.PrefetchTensor].
func (m *Model) PrefetchTensor(name string) {
	if mt, ok := m.tensors[name]; ok {
		m.files[mt.file].PrefetchTensor(name)
	}
}
