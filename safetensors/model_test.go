package safetensors

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// shardedDir writes a two-shard model with tensors a, b (shard 1) and c
// (shard 2), then replaces its index with index if that is not empty.
func shardedDir(t *testing.T, index string) string {
	t.Helper()
	dir := t.TempDir()
	writeModel(t, dir, []TensorSpec{spec("a", 2), spec("b", 2), spec("c", 4)}, WriterOptions{MaxShardSize: 4})
	if index != "" {
		if err := os.WriteFile(filepath.Join(dir, indexFile), []byte(index), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	shard1 = "model-00001-of-00002.safetensors"
	shard2 = "model-00002-of-00002.safetensors"
)

func TestOpenModelErrors(t *testing.T) {
	tests := []struct {
		name  string
		index string
		want  string
	}{
		{"bad json", `{"weight_map":`, indexFile},
		{"no weight_map", `{"metadata":{}}`, "no weight_map"},
		{"missing shard", `{"weight_map":{"a":"` + shard1 + `","x":"model-00009.safetensors"}}`, "model-00009.safetensors: no such file"},
		{"escaping shard", `{"weight_map":{"a":"../` + shard1 + `"}}`, "not a file inside the model directory"},
		{"absolute shard", `{"weight_map":{"a":"/etc/passwd"}}`, "not a file inside the model directory"},
		{"tensor not in shard", `{"weight_map":{"a":"` + shard1 + `","x":"` + shard1 + `"}}`, `maps tensor "x" to ` + shard1 + `, which does not contain it`},
		{"tensor in other shard", `{"weight_map":{"a":"` + shard2 + `","c":"` + shard2 + `"}}`, `maps tensor "a" to ` + shard2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shardedDir(t, tt.index)
			m, err := OpenModel(dir)
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestOpenModelDuplicateAcrossShards(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"x-1.safetensors", "x-2.safetensors"} {
		sub := filepath.Join(dir, name+".d")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		writeModel(t, sub, []TensorSpec{spec("a", 2)}, WriterOptions{})
		if err := os.Rename(filepath.Join(sub, singleFile), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	index := `{"weight_map":{"a":"x-1.safetensors","b":"x-2.safetensors"}}`
	if err := os.WriteFile(filepath.Join(dir, indexFile), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenModel(dir)
	if err == nil || !strings.Contains(err.Error(), `tensor "a" is in both x-1.safetensors and x-2.safetensors`) {
		t.Errorf("OpenModel = %v", err)
	}
}

// TestOpenModelUnlistedTensor checks that tensors a shard holds but the index
// omits are still part of the model.
func TestOpenModelUnlistedTensor(t *testing.T) {
	dir := shardedDir(t, `{"metadata":{},"weight_map":{"a":"`+shard1+`","c":"`+shard2+`"}}`)
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := strings.Join(m.Names(), ","); got != "a,b,c" {
		t.Errorf("Names() = %s", got)
	}
	if m.File("b") != filepath.Join(dir, shard1) {
		t.Errorf("File(b) = %s", m.File("b"))
	}
	if m.Dir() != dir {
		t.Errorf("Dir() = %s", m.Dir())
	}
	if err := m.ReadTensor("x", make([]byte, 2)); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("ReadTensor(x) = %v", err)
	}
	if err := m.ReadTensor("b", make([]byte, 3)); err == nil || !strings.Contains(err.Error(), shard1) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("ReadTensor(b) with a bad buffer = %v", err)
	}
}

func TestOpenModelNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "consolidated.safetensors"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenModel(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
	for _, want := range []string{dir, indexFile, singleFile, "found consolidated.safetensors"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestModelMapTensor(t *testing.T) {
	dir := t.TempDir()
	specs := []TensorSpec{
		{Name: "a", DType: "BF16", Shape: []int64{3, 5}},
		{Name: "b", DType: "F32", Shape: []int64{1000}},
		{Name: "empty", DType: "F32", Shape: []int64{0}},
		{Name: "c", DType: "F16", Shape: []int64{7}},
		{Name: "big", DType: "F32", Shape: []int64{100_003}},
	}
	writeModel(t, dir, specs, WriterOptions{MaxShardSize: 2500})
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, s := range specs {
		info, _ := m.Tensor(s.Name)
		want := make([]byte, info.Size)
		if err := m.ReadTensorRange(s.Name, 0, want); err != nil {
			t.Fatal(err)
		}
		mp, err := m.MapTensor(s.Name)
		if err != nil {
			if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
				t.Skip(err)
			}
			t.Fatal(err)
		}
		if !bytes.Equal(mp.Data, want) {
			t.Errorf("%s: mapped bytes differ from the bytes read", s.Name)
		}
		// Released pages read back the same.
		mp.Release(0, int64(len(mp.Data)/2))
		mp.Release(int64(len(mp.Data)/2), int64(len(mp.Data)-len(mp.Data)/2))
		if !bytes.Equal(mp.Data, want) {
			t.Errorf("%s: mapped bytes differ after Release", s.Name)
		}
		if err := mp.Close(); err != nil {
			t.Error(err)
		}
	}
	if _, err := m.MapTensor("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing tensor: %v, want fs.ErrNotExist", err)
	}
}
