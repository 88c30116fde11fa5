package safetensors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testSpecs covers every dtype, scalars, zero-size tensors and names that need
// JSON escaping.
func testSpecs() []TensorSpec {
	return []TensorSpec{
		{"model.embed_tokens.weight", BF16, []int64{64, 32}},
		{"model.layers.0.self_attn.q_proj.weight", F32, []int64{32, 32}},
		{"scalar", F32, nil},
		{"empty", F16, []int64{0, 7}},
		{"quoted \"name\"\\with\tescapes\x01 and ünïcode <&>", I64, []int64{3}},
		{"bool", Bool, []int64{5}},
		{"u8", U8, []int64{9}},
		{"i8", I8, []int64{2, 2}},
		{"u16", U16, []int64{3}},
		{"i16", I16, []int64{3}},
		{"f64", F64, []int64{4, 1}},
		{"u32", U32, []int64{1}},
		{"i32", I32, []int64{2}},
		{"u64", U64, []int64{2}},
		{"fp8.e4m3", F8E4M3, []int64{17}},
		{"fp8.e5m2", F8E5M2, []int64{3, 3}},
		{"fp8.e8m0", F8E8M0, []int64{4}},
		{"fp8.e4m3fnuz", F8E4M3FNUZ, []int64{4}},
		{"fp8.e5m2fnuz", F8E5M2FNUZ, []int64{4}},
		{"lm_head.weight", BF16, []int64{64, 32}},
	}
}

func TestRoundTripSingle(t *testing.T) {
	dir := t.TempDir()
	specs := testSpecs()
	shards := writeModel(t, dir, specs, WriterOptions{})
	if len(shards) != 1 || shards[0].File != "model.safetensors" {
		t.Fatalf("shards = %+v", shards)
	}
	checkModel(t, dir, specs)
	if _, err := os.Stat(filepath.Join(dir, indexFile)); !os.IsNotExist(err) {
		t.Errorf("single shard wrote an index: %v", err)
	}
	assertFiles(t, dir, "model.safetensors")

	f, err := Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Metadata(); len(got) != 1 || got["format"] != "pt" {
		t.Errorf("Metadata() = %v, want format=pt", got)
	}
	// Tensors() is in data order, which is the order given to Create.
	for i, info := range f.Tensors() {
		if info.Name != specs[i].Name {
			t.Fatalf("Tensors()[%d] = %q, want %q", i, info.Name, specs[i].Name)
		}
	}
}

func TestRoundTripSharded(t *testing.T) {
	dir := t.TempDir()
	specs := testSpecs()
	shards := writeModel(t, dir, specs, WriterOptions{
		MaxShardSize:  5000,
		Metadata:      map[string]string{"format": "pt", "merged_by": "gomerge"},
		IndexMetadata: map[string]any{"mergekit_version": "0.1.4"},
	})
	if len(shards) < 2 {
		t.Fatalf("want several shards, got %+v", shards)
	}
	checkModel(t, dir, specs)

	data, err := os.ReadFile(filepath.Join(dir, indexFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "{\n  \"metadata\": {\n") {
		t.Errorf("index is not indented by 2 spaces:\n%s", data)
	}
	var idx struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	var total int64
	var files []string
	for _, sh := range shards {
		files = append(files, sh.File)
		total += sh.Size
		for _, s := range sh.Tensors {
			if idx.WeightMap[s.Name] != sh.File {
				t.Errorf("weight_map[%q] = %q, want %q", s.Name, idx.WeightMap[s.Name], sh.File)
			}
		}
	}
	if len(idx.WeightMap) != len(specs) {
		t.Errorf("weight_map has %d entries, want %d", len(idx.WeightMap), len(specs))
	}
	if got := idx.Metadata["total_size"]; got != float64(total) {
		t.Errorf("total_size = %v, want %d", got, total)
	}
	if got := idx.Metadata["mergekit_version"]; got != "0.1.4" {
		t.Errorf("mergekit_version = %v", got)
	}
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.TotalSize() != total {
		t.Errorf("TotalSize() = %d, want %d", m.TotalSize(), total)
	}
	for _, sh := range shards {
		for _, s := range sh.Tensors {
			if got, want := m.File(s.Name), filepath.Join(dir, sh.File); got != want {
				t.Errorf("File(%q) = %q, want %q", s.Name, got, want)
			}
		}
	}
	if m.File("nope") != "" {
		t.Errorf(`File("nope") = %q`, m.File("nope"))
	}
	assertFiles(t, dir, append(files, indexFile)...)
	for _, f := range files {
		checkNLPIfKnown(t, filepath.Join(dir, f))
	}
}

// TestNLPReadsOurFiles checks that nlpodyssey/safetensors reads every file
// we write that uses only dtypes it knows, with identical bytes.
func TestNLPReadsOurFiles(t *testing.T) {
	var specs []TensorSpec
	for _, s := range testSpecs() {
		if nlpDTypes[s.DType] {
			specs = append(specs, s)
		}
	}
	for _, opt := range []WriterOptions{
		{},
		{Metadata: map[string]string{}},
		{Metadata: map[string]string{"a": "b\n\"c\"", "format": "pt"}},
		{MaxShardSize: 3000},
	} {
		dir := t.TempDir()
		for _, sh := range writeModel(t, dir, specs, opt) {
			checkNLP(t, filepath.Join(dir, sh.File))
		}
	}
}

func checkNLPIfKnown(t *testing.T, path string) {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, info := range f.Tensors() {
		if !nlpDTypes[info.DType] {
			return
		}
	}
	checkNLP(t, path)
}

func TestHeaderBytes(t *testing.T) {
	specs := []TensorSpec{
		{"b", F32, []int64{2, 3}},
		{"a", BF16, nil},
	}
	got := string(appendHeader(nil, nil, specs)[8:])
	want := `{"b":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"a":{"dtype":"BF16","shape":[],"data_offsets":[24,26]}}`
	want += strings.Repeat(" ", (8-len(want)%8)%8)
	if got != want {
		t.Errorf("header\n got %q\nwant %q", got, want)
	}
	got = string(appendHeader(nil, map[string]string{"format": "pt", "a": "x"}, specs[:1])[8:])
	want = `{"__metadata__":{"a":"x","format":"pt"},"b":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`
	want += strings.Repeat(" ", (8-len(want)%8)%8)
	if got != want {
		t.Errorf("header\n got %q\nwant %q", got, want)
	}
}

func assertFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("files in dir = %q, want %q", got, want)
	}
}

func spec(name string, n int64) TensorSpec { return TensorSpec{name, U8, []int64{n}} }

func TestPlanShards(t *testing.T) {
	tests := []struct {
		name  string
		specs []TensorSpec
		max   int64
		want  [][]string
	}{
		{"no tensors", nil, 10, [][]string{{}}},
		{"no limit", []TensorSpec{spec("a", 100), spec("b", 100)}, 0, [][]string{{"a", "b"}}},
		{"negative limit", []TensorSpec{spec("a", 100), spec("b", 100)}, -1, [][]string{{"a", "b"}}},
		{"exact fit", []TensorSpec{spec("a", 4), spec("b", 6), spec("c", 1)}, 10, [][]string{{"a", "b"}, {"c"}}},
		{"one over", []TensorSpec{spec("a", 4), spec("b", 7)}, 10, [][]string{{"a"}, {"b"}}},
		{"bigger than limit first", []TensorSpec{spec("big", 25), spec("a", 3)}, 10, [][]string{{"big"}, {"a"}}},
		{"bigger than limit middle", []TensorSpec{spec("a", 3), spec("big", 25), spec("b", 3)}, 10, [][]string{{"a"}, {"big"}, {"b"}}},
		{"exactly the limit", []TensorSpec{spec("a", 10), spec("b", 10)}, 10, [][]string{{"a"}, {"b"}}},
		{"zero-size tensors stay", []TensorSpec{spec("a", 10), spec("z", 0), spec("b", 1)}, 10, [][]string{{"a", "z"}, {"b"}}},
		// mergekit tests for a non-empty shard by count, not by size.
		{"zero-size then big", []TensorSpec{spec("z", 0), spec("big", 25)}, 10, [][]string{{"z"}, {"big"}}},
		{"dtype size counts", []TensorSpec{{"a", F32, []int64{2}}, {"b", F32, []int64{1}}}, 8, [][]string{{"a"}, {"b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shards := PlanShards(tt.specs, tt.max)
			var got [][]string
			for _, sh := range shards {
				names := []string{}
				var size int64
				for _, s := range sh.Tensors {
					names = append(names, s.Name)
					n, _ := byteSize(s.DType, s.Shape)
					size += n
				}
				if size != sh.Size {
					t.Errorf("shard %s: Size %d, tensors sum to %d", sh.File, sh.Size, size)
				}
				got = append(got, names)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			for i, sh := range shards {
				want := "model.safetensors"
				if len(shards) > 1 {
					want = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
				}
				if sh.File != want {
					t.Errorf("shard %d: File %q, want %q", i, sh.File, want)
				}
			}
		})
	}
}

func TestPlanShardsNames(t *testing.T) {
	var specs []TensorSpec
	for i := range 12 {
		specs = append(specs, spec(fmt.Sprint(i), 1))
	}
	shards := PlanShards(specs, 1)
	if shards[0].File != "model-00001-of-00012.safetensors" || shards[11].File != "model-00012-of-00012.safetensors" {
		t.Errorf("names %q ... %q", shards[0].File, shards[11].File)
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		specs []TensorSpec
		opt   WriterOptions
		want  string
	}{
		{"duplicate", []TensorSpec{spec("a", 1), spec("a", 2)}, WriterOptions{}, `"a" listed twice`},
		{"bad dtype", []TensorSpec{{"a", "F33", []int64{1}}}, WriterOptions{}, `unknown dtype "F33"`},
		{"empty dtype", []TensorSpec{{"a", "", []int64{1}}}, WriterOptions{}, `unknown dtype`},
		{"negative dim", []TensorSpec{{"a", F32, []int64{2, -1}}}, WriterOptions{}, "negative dimension"},
		{"overflow", []TensorSpec{{"a", F32, []int64{1 << 40, 1 << 40}}}, WriterOptions{}, "out of range"},
		{"reserved", []TensorSpec{spec("__metadata__", 1)}, WriterOptions{}, "reserved"},
		{"bad utf8", []TensorSpec{spec("a\xff", 1)}, WriterOptions{}, "UTF-8"},
		{"bad metadata", []TensorSpec{spec("a", 1)}, WriterOptions{Metadata: map[string]string{"k": "\xff"}}, "UTF-8"},
		{"bad index metadata", []TensorSpec{spec("a", 1)}, WriterOptions{IndexMetadata: map[string]any{"f": func() {}}}, "index metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Create(dir, tt.specs, tt.opt)
			if err == nil {
				w.Abort()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	assertFiles(t, dir)
	if _, err := Create(filepath.Join(dir, "missing"), nil, WriterOptions{}); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

func TestWriterMisuse(t *testing.T) {
	dir := t.TempDir()
	specs := []TensorSpec{spec("a", 4), spec("b", 4), spec("c", 0)}
	w, err := Create(dir, specs, WriterOptions{MaxShardSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	assertFiles(t, dir, "model-00001-of-00002.safetensors.partial", "model-00002-of-00002.safetensors.partial")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"a", make([]byte, 4), ""},
		{"a", make([]byte, 4), "written twice"},
		{"b", make([]byte, 3), "3 bytes, tensor is 4"},
		{"x", nil, "not in the tensor list"},
	} {
		err := w.WriteTensor(tc.name, tc.data)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("WriteTensor(%q, %d bytes) = %v, want %q", tc.name, len(tc.data), err, tc.want)
		}
	}
	err = w.Close()
	if err == nil || !strings.Contains(err.Error(), `2 of 3 tensors never written: "b", "c"`) {
		t.Errorf("Close with missing tensors = %v", err)
	}
	if err := w.WriteTensor("b", make([]byte, 4)); err == nil {
		t.Error("WriteTensor after Close succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	assertFiles(t, dir)
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	specs := []TensorSpec{spec("a", 4), spec("b", 4)}
	w, err := Create(dir, specs, WriterOptions{MaxShardSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensor("a", make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	assertFiles(t, dir)
	if err := w.WriteTensor("b", make([]byte, 4)); err == nil {
		t.Error("WriteTensor after Abort succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}

	// Abort after a successful Close keeps the model.
	w, err = Create(dir, specs[:1], WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensor("a", make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	assertFiles(t, dir, "model.safetensors")
}

// TestStaleIndexRemoved checks that writing a single shard over a sharded
// model removes the old index, which OpenModel would otherwise prefer.
func TestStaleIndexRemoved(t *testing.T) {
	dir := t.TempDir()
	specs := []TensorSpec{spec("a", 4), spec("b", 4)}
	writeModel(t, dir, specs, WriterOptions{MaxShardSize: 4})
	writeModel(t, dir, specs, WriterOptions{})
	if _, err := os.Stat(filepath.Join(dir, indexFile)); !os.IsNotExist(err) {
		t.Errorf("stale index kept: %v", err)
	}
	checkModel(t, dir, specs)
}

// TestConcurrentWriteSameTensor checks that racing writes of one tensor
// succeed exactly once.
func TestConcurrentWriteSameTensor(t *testing.T) {
	w, err := Create(t.TempDir(), []TensorSpec{spec("a", 1<<16)}, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	data := make([]byte, 1<<16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			if w.WriteTensor("a", data) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Errorf("%d writes succeeded, want 1", ok)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteTensorPart(t *testing.T) {
	dir := t.TempDir()
	specs := []TensorSpec{{Name: "a", DType: F32, Shape: []int64{5}}, {Name: "b", DType: U8, Shape: []int64{3}}}
	w, err := Create(dir, specs, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	data := []byte("0123456789abcdefghij")
	if err := w.WriteTensorPart("a", 0, data[:7]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensorPart("a", 9, data[9:12]); err == nil {
		t.Error("gap accepted")
	}
	if err := w.WriteTensorPart("a", 7, append(data[7:20:20], 'x')); err == nil || !strings.Contains(err.Error(), "ends at byte") {
		t.Errorf("overrun: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close accepted a half-written tensor")
	}
	w2, _ := Create(t.TempDir(), specs, WriterOptions{})
	defer w2.Abort()
	for off := 0; off < 20; off += 6 {
		if err := w2.WriteTensorPart("a", int64(off), data[off:min(off+6, 20)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w2.WriteTensorPart("a", 20, nil); err == nil {
		t.Error("write after completion accepted")
	}
	w2.WriteTensor("b", []byte("xyz"))
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := OpenModel(w2.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := make([]byte, 20)
	if err := m.ReadTensor("a", got); err != nil || string(got) != string(data) {
		t.Fatalf("read %q, %v", got, err)
	}
	part := make([]byte, 4)
	if err := m.ReadTensorRange("a", 10, part); err != nil || string(part) != "abcd" {
		t.Fatalf("range %q, %v", part, err)
	}
	if err := m.ReadTensorRange("a", 18, part); err == nil {
		t.Error("range beyond the tensor accepted")
	}
}
