package pytorch

import (
	"archive/zip"
	"os"
	"path/filepath"
	"testing"
)

// benchFile writes a zip checkpoint of one 2048×2048 f32 storage viewed as
// the tensor "w" with the given size and stride.
func benchFile(b *testing.B, size, stride []int32) *File {
	const n = 2048
	pkl := tensorPickle(n*n, 0, size, stride)
	data := zipCheckpoint(b, pkl, zip.Store, map[string][]byte{"0": make([]byte, 4*n*n)})
	path := filepath.Join(b.TempDir(), "bench.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

func benchRead(b *testing.B, f *File, chunk int) {
	ti, _ := f.Tensor("w")
	buf := make([]byte, chunk)
	b.SetBytes(ti.Size)
	b.ResetTimer()
	for b.Loop() {
		for off := int64(0); off < ti.Size; off += int64(chunk) {
			if err := f.ReadTensorRange("w", off, buf[:min(int64(chunk), ti.Size-off)]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReadContiguous reads a stored tensor in 4 MiB pieces, as merges
// read element-wise inputs.
func BenchmarkReadContiguous(b *testing.B) {
	benchRead(b, benchFile(b, []int32{2048, 2048}, []int32{2048, 1}), 4<<20)
}

// BenchmarkReadTransposed reads a transposed view whole: one span read and a
// gather.
func BenchmarkReadTransposed(b *testing.B) {
	benchRead(b, benchFile(b, []int32{2048, 2048}, []int32{1, 2048}), 16<<20)
}

// BenchmarkReadTransposedChunked reads it in 4 MiB pieces, each of which
// spans almost the whole storage.
func BenchmarkReadTransposedChunked(b *testing.B) {
	benchRead(b, benchFile(b, []int32{2048, 2048}, []int32{1, 2048}), 4<<20)
}

// BenchmarkReadRowStep reads every other row of the storage: runs of 8 KiB.
func BenchmarkReadRowStep(b *testing.B) {
	benchRead(b, benchFile(b, []int32{1024, 2048}, []int32{4096, 1}), 4<<20)
}
