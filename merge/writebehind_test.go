package merge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordSink keeps what is written to it and fails the write at failAt
// (when failAt ≥ 0).
type recordSink struct {
	mu     sync.Mutex
	offs   []int64
	data   bytes.Buffer
	failAt int64
	busy   bool
}

func (s *recordSink) WriteTensorPart(name string, off int64, b []byte) error {
	s.mu.Lock()
	if s.busy {
		s.mu.Unlock()
		return errors.New("written concurrently")
	}
	s.busy = true
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.busy = false; s.mu.Unlock() }()
	if s.failAt >= 0 && off == s.failAt {
		return fmt.Errorf("%s: disk full", name)
	}
	time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
	s.offs = append(s.offs, off)
	s.data.Write(b)
	return nil
}

// runWriteBehind merges pieces the way runTask's merge pass does: each
// worker fills piece p's buffer with the byte p after a random delay (the
// first piece slowest, so that the others run ahead) and hands it to the
// write-behind; workerErr, when ≥ 0, fails that piece's worker.
func runWriteBehind(sink *recordSink, pieces, piece, last, workers, workerErr int) (made int, err error) {
	abort := make(chan struct{})
	wb := newWriteBehind(sink, "t", pieces, piece, workers, abort)
	var mu sync.Mutex
	err = forPieces(context.Background(), pieces, workers, abort, func(w, p int) error {
		d := time.Duration(rand.IntN(100)) * time.Microsecond
		if p == 0 {
			d = 5 * time.Millisecond
		}
		time.Sleep(d)
		if p == workerErr {
			return errors.New("merge failed")
		}
		n := piece
		if p == pieces-1 {
			n = last
		}
		b, err := wb.buffer(p, n, func(n int) []byte {
			mu.Lock()
			made++
			mu.Unlock()
			return make([]byte, n)
		})
		if err != nil {
			return err
		}
		for i := range b {
			b[i] = byte(p)
		}
		wb.put(p, b)
		return nil
	})
	werr := wb.wait()
	if err == nil {
		err = werr
	}
	return made, err
}

// TestWriteBehind checks that the pieces reach the sink whole, in order,
// one write at a time, from at most writeBehindBuffers buffers, whatever
// order the workers finish them in.
func TestWriteBehind(t *testing.T) {
	for _, c := range []struct{ pieces, piece, last, workers int }{
		{1, 8, 3, 1}, {1, 8, 8, 4}, {5, 8, 8, 1}, {40, 16, 5, 2}, {200, 4, 1, 3}, {64, 7, 7, 8},
	} {
		t.Run(fmt.Sprintf("%d pieces %d workers", c.pieces, c.workers), func(t *testing.T) {
			sink := &recordSink{failAt: -1}
			made, err := runWriteBehind(sink, c.pieces, c.piece, c.last, c.workers, -1)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			for p := range c.pieces {
				if sink.offs[p] != int64(p*c.piece) {
					t.Fatalf("write %d at byte %d, want %d", p, sink.offs[p], p*c.piece)
				}
				n := c.piece
				if p == c.pieces-1 {
					n = c.last
				}
				want.Write(bytes.Repeat([]byte{byte(p)}, n))
			}
			if len(sink.offs) != c.pieces || !bytes.Equal(sink.data.Bytes(), want.Bytes()) {
				t.Errorf("%d writes, bytes differ: %v", len(sink.offs), !bytes.Equal(sink.data.Bytes(), want.Bytes()))
			}
			if lim := min(c.pieces, writeBehindBuffers(c.workers)); made > lim {
				t.Errorf("%d buffers made, want at most %d", made, lim)
			}
		})
	}
}

// TestWriteBehindErrors checks that a failed write stops the writing and
// the workers with its error, and a failed worker stops the writer; nothing
// is written after the failure, and nothing waits forever.
func TestWriteBehindErrors(t *testing.T) {
	for _, c := range []struct {
		name              string
		failAt, workerErr int
		want              string
	}{
		{"write fails", 3 * 16, -1, "disk full"},
		{"first write fails", 0, -1, "disk full"},
		{"worker fails", -1, 7, "merge failed"},
		{"first worker fails", -1, 0, "merge failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				sink := &recordSink{failAt: int64(c.failAt)}
				_, err := runWriteBehind(sink, 60, 16, 16, 3, c.workerErr)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %v, want %q", err, c.want)
				}
				stop := c.failAt / 16
				if c.workerErr >= 0 {
					stop = c.workerErr
				}
				if len(sink.offs) > stop {
					t.Errorf("%d pieces written, want at most %d (those before the failure)", len(sink.offs), stop)
				}
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("deadlock")
			}
		})
	}
}

// failSink keeps the pieces written to it and fails the write of the
// piece at byte failAt of the tensor.
type failSink struct {
	mu     sync.Mutex
	failAt int64
	offs   []int64
}

func (s *failSink) WriteTensorPart(name string, off int64, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off == s.failAt {
		return fmt.Errorf("%s: input/output error", name)
	}
	s.offs = append(s.offs, off)
	return nil
}

// TestExecutorWriteFails checks a task whose output write fails halfway
// (an I/O error after the free-space check): the task returns that error,
// nothing after the failed piece is written, and a task that merges
// after it on the same executor succeeds, for every method that merges
// by pieces in one or several passes.
func TestExecutorWriteFails(t *testing.T) {
	dir := bf16Models(t)
	defer func(n int64) { chunkElements = n }(chunkElements)
	chunkElements = 64 // many pieces
	for _, c := range []struct{ method, params string }{
		{"linear", "{weight: 0.5}"},
		{"ties", "{weight: 0.6, density: 0.5}"},
		{"dare_ties", "{weight: 0.6, density: 0.5}"},
		{"della", "{weight: 0.6, density: 0.5, epsilon: 0.1}"},
		{"model_stock", "{}"},
	} {
		t.Run(c.method, func(t *testing.T) {
			yml := "merge_method: " + c.method + "\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: " + c.params + "\n" +
				"  - model: ft2\n    parameters: " + c.params + "\ndtype: bfloat16\n"
			plan, err := planYAML(t, dir, yml)
			if err != nil {
				t.Fatal(err)
			}
			var task *Task
			for _, tk := range plan.Tasks {
				if c, _ := chunk(plan.Method, tk); tk.NumElements() >= 16*c && (task == nil || tk.NumElements() > task.NumElements()) {
					task = tk
				}
			}
			if task == nil {
				t.Fatal("no task of 16 pieces or more")
			}
			c, _ := chunk(plan.Method, task)
			piece := c * int64(task.Out.Size())
			for _, threads := range []int{1, 2, 3} {
				failAt := 5 * piece
				sink := &failSink{failAt: failAt}
				ex := &executor{plan: plan, opt: Options{Threads: threads, Seed: new(uint64(1))}, w: sink}
				err := ex.run(context.Background(), task)
				if err == nil || !strings.Contains(err.Error(), "input/output error") {
					t.Fatalf("-j %d: error %v, want the write's", threads, err)
				}
				for i, off := range sink.offs {
					if off != int64(i)*piece || off >= failAt {
						t.Fatalf("-j %d: write %d at byte %d, want pieces in order and none from byte %d on", threads, i, off, failAt)
					}
				}
				ok := &failSink{failAt: -1}
				ex.w = ok
				if err := ex.run(context.Background(), task); err != nil {
					t.Fatalf("-j %d: after the failure: %v", threads, err)
				}
				if want := (task.Bytes() + piece - 1) / piece; int64(len(ok.offs)) != want {
					t.Errorf("-j %d: %d pieces written, want %d", threads, len(ok.offs), want)
				}
			}
		})
	}
}
