package safetensors

import (
	"testing"
)

func BenchmarkReadTensor(b *testing.B) {
	const n = 16 << 20
	dir := b.TempDir()
	specs := []TensorSpec{{"w", BF16, []int64{n / 2}}}
	w, err := Create(dir, specs, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, n)
	if err := w.WriteTensor("w", buf); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	m, err := OpenModel(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.SetBytes(n)
	for b.Loop() {
		if err := m.ReadTensor("w", buf); err != nil {
			b.Fatal(err)
		}
	}
}
