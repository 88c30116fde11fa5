package safetensors

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	nlp "github.com/nlpodyssey/safetensors"
)

// rawFile returns a safetensors file with header hdr (unpadded) and data.
func rawFile(hdr string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, data...)
}

// fill returns size bytes of data derived from name, so every tensor differs.
func fill(name string, size int64) []byte {
	var seed uint64
	for _, c := range []byte(name) {
		seed = seed*131 + uint64(c)
	}
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeModel writes tensors to dir through a Writer, from several goroutines
// in shuffled order, with data from fill.
func writeModel(t testing.TB, dir string, specs []TensorSpec, opt WriterOptions) []Shard {
	t.Helper()
	w, err := Create(dir, specs, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	order := rand.Perm(len(specs))
	work := make(chan TensorSpec)
	var wg sync.WaitGroup
	errs := make(chan error, len(specs))
	for range 4 {
		wg.Go(func() {
			for s := range work {
				size, _ := byteSize(s.DType, s.Shape)
				errs <- w.WriteTensor(s.Name, fill(s.Name, size))
			}
		})
	}
	for _, i := range order {
		work <- specs[i]
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	shards := w.Shards()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return shards
}

// checkModel opens dir with OpenModel and checks it holds exactly specs with
// data from fill.
func checkModel(t testing.TB, dir string, specs []TensorSpec) {
	t.Helper()
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var want []string
	var total int64
	for _, s := range specs {
		want = append(want, s.Name)
		info, ok := m.Tensor(s.Name)
		if !ok {
			t.Fatalf("tensor %q missing", s.Name)
		}
		if info.DType != s.DType || !slices.Equal(info.Shape, normShape(s.Shape)) {
			t.Errorf("tensor %q: got %s %v, want %s %v", s.Name, info.DType, info.Shape, s.DType, s.Shape)
		}
		dst := make([]byte, info.Size)
		if err := m.ReadTensor(s.Name, dst); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dst, fill(s.Name, info.Size)) {
			t.Errorf("tensor %q: data differs", s.Name)
		}
		total += info.Size
	}
	slices.Sort(want)
	if !slices.Equal(m.Names(), want) {
		t.Errorf("Names() = %q, want %q", m.Names(), want)
	}
	if m.TotalSize() != total {
		t.Errorf("TotalSize() = %d, want %d", m.TotalSize(), total)
	}
}

func normShape(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

// checkNLP checks that nlpodyssey/safetensors loads the file at path with the
// same metadata and the same tensors as our Reader.
func checkNLP(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	compareNLP(t, filepath.Base(path), data, r)
}

// compareNLP checks that nlpodyssey loads data, which r has parsed, the same.
func compareNLP(t testing.TB, what string, data []byte, r *Reader) {
	t.Helper()
	st, err := nlp.Deserialize(data)
	if err != nil {
		t.Fatalf("%s: we accept, nlpodyssey rejects: %v", what, err)
	}
	if st.Len() != len(r.Tensors()) {
		t.Fatalf("%s: nlpodyssey sees %d tensors, we see %d", what, st.Len(), len(r.Tensors()))
	}
	_, md, _ := nlp.ReadMetadata(data)
	if !maps.Equal(md.Metadata(), r.Metadata()) {
		t.Errorf("%s: metadata: nlpodyssey %v, ours %v", what, md.Metadata(), r.Metadata())
	}
	for _, info := range r.Tensors() {
		v, ok := st.Tensor(info.Name)
		if !ok {
			t.Fatalf("%s: nlpodyssey lacks tensor %q", what, info.Name)
		}
		if v.DType().String() != string(info.DType) {
			t.Errorf("%s: tensor %q: nlpodyssey dtype %s, ours %s", what, info.Name, v.DType(), info.DType)
		}
		shape := make([]int64, len(v.Shape()))
		for i, d := range v.Shape() {
			shape[i] = int64(d)
		}
		if !slices.Equal(shape, info.Shape) {
			t.Errorf("%s: tensor %q: nlpodyssey shape %v, ours %v", what, info.Name, shape, info.Shape)
		}
		dst := make([]byte, info.Size)
		if err := r.ReadTensorAt(info, dst); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dst, v.Data()) {
			t.Errorf("%s: tensor %q: data differs from nlpodyssey's", what, info.Name)
		}
	}
}

// nlpDTypes are the dtypes nlpodyssey/safetensors knows.
var nlpDTypes = map[DType]bool{
	Bool: true, U8: true, I8: true, I16: true, U16: true, F16: true, BF16: true,
	I32: true, U32: true, F32: true, F64: true, I64: true, U64: true,
}
