package safetensors

import (
	"errors"
	"io/fs"
	"runtime"
	"strings"
	"testing"
)

// TestProbeMap checks that ProbeMap measures both ways on at most the
// bytes asked for and at most the tensor's, in the shard that holds it,
// and refuses what it cannot probe, naming the model.
func TestProbeMap(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no memory mapping")
	}
	dir := t.TempDir()
	specs := []TensorSpec{
		{Name: "small", DType: "BF16", Shape: []int64{3, 5}},
		{Name: "empty", DType: "F32", Shape: []int64{0}},
		{Name: "big", DType: "F32", Shape: []int64{600_001}},
	}
	writeModel(t, dir, specs, WriterOptions{MaxShardSize: 1 << 20})
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range []struct {
		name string
		n    int64
		want int64
	}{
		{"big", 1 << 20, 1 << 20},
		{"big", 1 << 30, 2_400_004},
		{"big", 4097, 4097},
		{"small", 8 << 20, 30},
	} {
		got, err := m.ProbeMap(c.name, c.n)
		if err != nil {
			t.Fatalf("%s, %d bytes: %v", c.name, c.n, err)
		}
		if got.Bytes != c.want || got.Map <= 0 || got.Read <= 0 {
			t.Errorf("%s, %d bytes: %+v, want %d bytes and both durations measured", c.name, c.n, got, c.want)
		}
	}
	for _, c := range []struct {
		name string
		n    int64
		want string
		is   error
	}{
		{"empty", 1 << 20, "no bytes to probe", nil},
		{"big", 0, "no bytes to probe", nil},
		{"missing", 1 << 20, dir, fs.ErrNotExist},
	} {
		_, err := m.ProbeMap(c.name, c.n)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name) ||
			(c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("ProbeMap(%q, %d) = %v, want an error naming it and saying %q", c.name, c.n, err, c.want)
		}
	}
}
