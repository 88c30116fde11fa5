package safetensors

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"
)

// writePlan is a model and the pieces its tensors are written in.
type writePlan struct {
	specs  []TensorSpec
	pieces [][]int // per tensor, the lengths of its pieces, in order
	// order lists a tensor index per piece: the interleaving of a single
	// writing goroutine.
	order []int
}

// randomPlan returns n U8 tensors of up to maxSize bytes (sizes near
// multiples of directAlign are favoured), cut into random pieces and
// randomly interleaved.
func randomPlan(r *rand.Rand, n int, maxSize int64) writePlan {
	var p writePlan
	for i := range n {
		size := r.Int64N(maxSize + 1)
		if r.IntN(2) == 0 { // within a few bytes of a block boundary
			size = max(0, size&^(directAlign-1)+r.Int64N(7)-3)
		}
		p.specs = append(p.specs, TensorSpec{fmt.Sprintf("t%d", i), U8, []int64{size}})
		var ps []int
		for left := size; left > 0; {
			k := min(left, 1+r.Int64N(max(1, size/3+1)))
			ps = append(ps, int(k))
			left -= k
			p.order = append(p.order, i)
		}
		if size == 0 {
			ps = append(ps, 0)
			p.order = append(p.order, i)
		}
		p.pieces = append(p.pieces, ps)
	}
	r.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
	return p
}

// run writes the plan into dir (from one goroutine in p.order, or one
// goroutine per tensor), retrying every failed piece, and returns the
// number of failures seen and the bytes written with O_DIRECT.
func (p writePlan) run(t testing.TB, dir string, opt WriterOptions, concurrent bool) (failures int, direct int64) {
	t.Helper()
	w, err := Create(dir, p.specs, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	data := make([][]byte, len(p.specs))
	offs := make([]int, len(p.specs))
	next := make([]int, len(p.specs))
	var fails atomic.Int64
	piece := func(i int) error {
		k := p.pieces[i][next[i]]
		b := data[i][offs[i] : offs[i]+k]
		for try := 0; ; try++ {
			err := w.WriteTensorPart(p.specs[i].Name, int64(offs[i]), b)
			if err == nil {
				break
			}
			fails.Add(1)
			if try == 5 {
				return err
			}
		}
		offs[i] += k
		next[i]++
		return nil
	}
	for i, s := range p.specs {
		data[i] = fill(s.Name, s.Shape[0])
	}
	if concurrent {
		var wg sync.WaitGroup
		errs := make([]error, len(p.specs))
		for i := range p.specs {
			wg.Go(func() {
				for range p.pieces[i] {
					if err := piece(i); err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, i := range p.order {
			if err := piece(i); err != nil {
				t.Fatal(err)
			}
		}
	}
	direct = w.directBytes.Load()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return int(fails.Load()), direct
}

// smallStages makes tensors of a few KiB take every direct-write path:
// several stage buffers, the asynchronous write and the last one.
func smallStages(t testing.TB) {
	oldSize, oldMin := stageSize, directMin
	stageSize, directMin = 2*directAlign, directAlign
	t.Cleanup(func() { stageSize, directMin = oldSize, oldMin })
}

// failDirectWrites makes the direct writes numbered in fail (from 1)
// return err instead of writing.
func failDirectWrites(t testing.TB, err error, fail func(n int64) bool) {
	var calls atomic.Int64
	old := directWriteAt
	directWriteAt = func(f *os.File, b []byte, off int64) (int, error) {
		if fail(calls.Add(1)) {
			return 0, err
		}
		return f.WriteAt(b, off)
	}
	t.Cleanup(func() { directWriteAt = old })
}

// tempDirs returns t.TempDir() and, where there is one, a directory on
// tmpfs (/dev/shm), whose O_DIRECT support depends on the kernel.
func tempDirs(t testing.TB) map[string]string {
	dirs := map[string]string{"tempdir": t.TempDir()}
	if shm, err := os.MkdirTemp("/dev/shm", "safetensors-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		dirs["shm"] = shm
	}
	return dirs
}

// sameFiles fails unless dirs a and b hold the same files with the same
// bytes.
func sameFiles(t testing.TB, a, b string) {
	t.Helper()
	ents, err := os.ReadDir(a)
	if err != nil {
		t.Fatal(err)
	}
	if other, _ := os.ReadDir(b); len(other) != len(ents) {
		t.Fatalf("%s has %d files, %s %d", a, len(ents), b, len(other))
	}
	for _, e := range ents {
		x, err := os.ReadFile(filepath.Join(a, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			i := 0
			for i < min(len(x), len(y)) && x[i] == y[i] {
				i++
			}
			t.Fatalf("%s: %d and %d bytes, first difference at %d", e.Name(), len(x), len(y), i)
		}
	}
}

// directOpened reports whether the file system of dir takes O_DIRECT.
func directOpened(t testing.TB, dir string) bool {
	path := filepath.Join(dir, "probe")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	f := openDirect(path)
	if f != nil {
		f.Close()
	}
	return f != nil
}

// TestDirectMatchesBuffered checks that the direct writer leaves the same
// bytes as the buffered one, for tensors around block boundaries, pieces
// of every size, interleaved from one goroutine or written from several,
// in one shard or several, on the temporary directory's file system and
// on tmpfs. Where O_DIRECT opens, tensors' middles must go out directly.
func TestDirectMatchesBuffered(t *testing.T) {
	cases := []struct {
		name       string
		n          int
		maxSize    int64
		shard      int64
		small      bool // small stage buffers
		concurrent bool
	}{
		{"tiny", 5, 3 * directAlign, 0, true, false},
		{"stages", 4, 40 * directAlign, 0, true, false},
		{"stages concurrent", 6, 40 * directAlign, 0, true, true},
		{"sharded", 8, 20 * directAlign, 50 * directAlign, true, true},
		{"real sizes", 3, 3<<20 + 5, 0, false, false},
		{"real sizes concurrent", 3, 3<<20 + 5, 0, false, true},
	}
	for dirName, root := range tempDirs(t) {
		for i, c := range cases {
			t.Run(dirName+"/"+c.name, func(t *testing.T) {
				if c.small {
					smallStages(t)
				}
				for seed := range uint64(4) {
					p := randomPlan(rand.New(rand.NewPCG(seed, uint64(i))), c.n, c.maxSize)
					d, b := filepath.Join(root, fmt.Sprint(c.name, seed, "d")), filepath.Join(root, fmt.Sprint(c.name, seed, "b"))
					for _, dir := range []string{d, b} {
						if err := os.Mkdir(dir, 0o755); err != nil {
							t.Fatal(err)
						}
						defer os.RemoveAll(dir)
					}
					_, direct := p.run(t, d, WriterOptions{MaxShardSize: c.shard}, c.concurrent)
					_, buffered := p.run(t, b, WriterOptions{MaxShardSize: c.shard, Buffered: true}, c.concurrent)
					sameFiles(t, d, b)
					if buffered != 0 {
						t.Errorf("Buffered wrote %d bytes directly", buffered)
					}
					if direct == 0 && directOpened(t, root) && hasLong(p.specs) {
						t.Errorf("seed %d: no direct writes", seed)
					}
				}
			})
		}
	}
}

// hasLong reports whether a tensor is long enough for a direct write
// wherever it lands.
func hasLong(specs []TensorSpec) bool {
	for _, s := range specs {
		if s.Shape[0] >= directMin+2*directAlign {
			return true
		}
	}
	return false
}

// TestBufferedWriteEnv checks that GOMERGE_BUFFERED_WRITE=1 turns direct
// writes off.
func TestBufferedWriteEnv(t *testing.T) {
	smallStages(t)
	t.Setenv("GOMERGE_BUFFERED_WRITE", "1")
	p := randomPlan(rand.New(rand.NewPCG(1, 2)), 3, 20*directAlign)
	if _, direct := p.run(t, t.TempDir(), WriterOptions{}, false); direct != 0 {
		t.Errorf("%d bytes written directly", direct)
	}
}

// TestDirectRefusedAtWrite checks the fall back to buffered writes when a
// file system takes O_DIRECT at open but refuses the writes with EINVAL,
// at the first one or later.
func TestDirectRefusedAtWrite(t *testing.T) {
	smallStages(t)
	for _, from := range []int64{1, 2, 5} {
		t.Run(fmt.Sprint("from ", from), func(t *testing.T) {
			failDirectWrites(t, syscall.EINVAL, func(n int64) bool { return n >= from })
			p := randomPlan(rand.New(rand.NewPCG(uint64(from), 3)), 5, 30*directAlign)
			d, b := t.TempDir(), t.TempDir()
			fails, _ := p.run(t, d, WriterOptions{}, false)
			p.run(t, b, WriterOptions{Buffered: true}, false)
			if fails != 0 {
				t.Errorf("%d writes failed", fails)
			}
			sameFiles(t, d, b)
		})
	}
}

// TestDirectRetry fails every direct write in turn, twice in a row (the
// writer tries a failed background write once more by itself), and checks
// that retrying the failed pieces leaves the same bytes as the buffered
// writer: a failed piece leaves the writer as it was, in the stage
// buffers, the background write and the file.
func TestDirectRetry(t *testing.T) {
	smallStages(t)
	dir := t.TempDir()
	if !directOpened(t, dir) {
		t.Skip("no O_DIRECT here")
	}
	p := randomPlan(rand.New(rand.NewPCG(7, 7)), 4, 24*directAlign)
	want := t.TempDir()
	p.run(t, want, WriterOptions{Buffered: true}, false)
	var calls atomic.Int64
	failDirectWrites(t, nil, func(int64) bool { calls.Add(1); return false })
	p.run(t, t.TempDir(), WriterOptions{}, false)
	total := calls.Load()
	if total < 4 {
		t.Fatalf("only %d direct writes", total)
	}
	surfaced := 0
	for k := int64(1); k <= total; k++ {
		failDirectWrites(t, syscall.EIO, func(n int64) bool { return n == k || n == k+1 })
		got := t.TempDir()
		fails, _ := p.run(t, got, WriterOptions{}, false)
		surfaced += fails
		sameFiles(t, got, want)
	}
	if surfaced == 0 {
		t.Error("no failure reached the caller")
	}
}

// TestDirectAbort checks that Abort removes the files while a tensor's
// direct writes are under way, that Close refuses it, and that the
// tensor's stage buffers go back to the pool.
func TestDirectAbort(t *testing.T) {
	smallStages(t)
	dir := t.TempDir()
	specs := []TensorSpec{spec("a", 40*directAlign), spec("b", 3)}
	for _, closeFirst := range []bool{false, true} {
		w, err := Create(dir, specs, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteTensorPart("a", 0, make([]byte, 30*directAlign)); err != nil {
			t.Fatal(err)
		}
		if closeFirst {
			if err := w.Close(); err == nil {
				t.Fatal("Close accepted a half-written tensor")
			}
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		assertFiles(t, dir)
		if w.entries["a"].stage != nil {
			t.Error("the half-written tensor's stage buffers were not returned to the pool")
		}
	}
}

// FuzzWriterDirect checks random models, pieces, interleavings and
// failed direct writes against the buffered writer.
func FuzzWriterDirect(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint32(20*directAlign), uint16(0), false)
	f.Add(uint64(2), uint8(6), uint32(9*directAlign+3), uint16(3), true)
	f.Add(uint64(3), uint8(1), uint32(64), uint16(1), false)
	smallStages(f)
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, maxSize uint32, failAt uint16, einval bool) {
		p := randomPlan(rand.New(rand.NewPCG(seed, 0)), int(n%8)+1, int64(maxSize%(64*directAlign)))
		want, got := t.TempDir(), t.TempDir()
		if failAt > 0 {
			err := error(syscall.EIO)
			if einval {
				err = syscall.EINVAL
			}
			k := int64(failAt % 64)
			failDirectWrites(t, err, func(n int64) bool { return n == k || n == k+1 })
		}
		p.run(t, got, WriterOptions{MaxShardSize: int64(seed % (40 * directAlign))}, false)
		p.run(t, want, WriterOptions{MaxShardSize: int64(seed % (40 * directAlign)), Buffered: true}, false)
		sameFiles(t, got, want)
	})
}

// TestStageBuffers checks the stage buffers' size and alignment, small
// (from the heap) and huge-page sized (mapped where the system allows),
// and that the pool hands a returned buffer out again.
func TestStageBuffers(t *testing.T) {
	old := stageSize
	defer func() { stageSize = old }()
	for _, size := range []int{2 * directAlign, 2 << 20} {
		stageSize = size
		b := getStageBuffer()
		if len(b) != size || cap(b) != size {
			t.Fatalf("size %d: got len %d cap %d", size, len(b), cap(b))
		}
		if addr := uintptr(unsafe.Pointer(&b[0])); addr%directAlign != 0 {
			t.Fatalf("size %d: address %#x not aligned", size, addr)
		}
		b[0], b[size-1] = 1, 2
		putStageBuffers([][]byte{b})
		if again := getStageBuffer(); &again[0] != &b[0] {
			t.Errorf("size %d: the pooled buffer was not reused", size)
		} else {
			putStageBuffers([][]byte{again})
		}
	}
}
