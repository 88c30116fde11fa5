package safetensors

import (
	"os"
	"slices"
	"sync"
	"testing"
)

// TestWritebackCadence checks the ranges WriteTensorPart hands to
// writeback: a tensor's pieces gather until writebackChunk bytes or the
// tensor's end, every written byte is handed over exactly once, in order,
// with the pieces of two tensors interleaved. Direct writes need no
// writeback, so the writer is told to write buffered.
func TestWritebackCadence(t *testing.T) {
	var (
		mu  sync.Mutex
		got [][2]int64
	)
	defer func(f func(*os.File, int64, int64)) { writeback = f }(writeback)
	writeback = func(_ *os.File, off, n int64) {
		mu.Lock()
		got = append(got, [2]int64{off, n})
		mu.Unlock()
	}
	const piece = 512 << 10
	big := int64(writebackChunk*2 + 3*piece) // 2 chunks and a tail
	specs := []TensorSpec{{"a", U8, []int64{big}}, {"b", U8, []int64{piece + 5}}}
	w, err := Create(t.TempDir(), specs, WriterOptions{Buffered: true})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, piece)
	var bOff int64
	for off := int64(0); off < big; off += piece {
		if err := w.WriteTensorPart("a", off, buf[:min(piece, big-off)]); err != nil {
			t.Fatal(err)
		}
		if bOff < piece+5 { // b's pieces between a's
			n := min(piece, piece+5-bOff)
			if err := w.WriteTensorPart("b", bOff, buf[:n]); err != nil {
				t.Fatal(err)
			}
			bOff += n
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	start := w.entries["a"].off
	bStart := w.entries["b"].off
	want := [][2]int64{
		{bStart, piece + 5},
		{start, writebackChunk},
		{start + writebackChunk, writebackChunk},
		{start + 2*writebackChunk, 3 * piece},
	}
	slices.SortFunc(got, func(x, y [2]int64) int { return int(x[0] - y[0]) })
	slices.SortFunc(want, func(x, y [2]int64) int { return int(x[0] - y[0]) })
	if !slices.Equal(got, want) {
		t.Errorf("writeback ranges %v, want %v", got, want)
	}
}
