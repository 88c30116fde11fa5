package merge

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// errAborted is what waiting pieces get once another piece has failed; the
// caller reports that piece's error instead.
var errAborted = errors.New("merge aborted")

// turnstile lets the pieces of one tensor pass points one after another,
// in index order, while they are otherwise processed in parallel. A piece
// has stops numbered from 0; stop s of piece p opens once stop s of piece
// p−1 has been passed.
type turnstile struct {
	passed [][]chan struct{} // [stop][piece]
	abort  <-chan struct{}
}

func newTurnstile(pieces, stops int, abort <-chan struct{}) *turnstile {
	t := &turnstile{passed: make([][]chan struct{}, stops), abort: abort}
	for s := range t.passed {
		t.passed[s] = make([]chan struct{}, pieces)
		for p := range t.passed[s] {
			t.passed[s][p] = make(chan struct{})
		}
	}
	return t
}

// run waits until piece p−1 has passed stop s, runs fn and lets piece p+1
// through unless fn fails.
func (t *turnstile) run(s, p int, fn func() error) error {
	if s >= len(t.passed) {
		return fmt.Errorf("internal error: piece stops at %d ordered points, %d allowed", s+1, len(t.passed))
	}
	if p > 0 {
		select {
		case <-t.passed[s][p-1]:
		case <-t.abort:
			return errAborted
		}
	}
	if fn != nil {
		if err := fn(); err != nil {
			return err
		}
	}
	close(t.passed[s][p])
	return nil
}

// finish passes piece p through the stops from s on that it did not use.
func (t *turnstile) finish(s, p int) error {
	for ; s < len(t.passed); s++ {
		if err := t.run(s, p, nil); err != nil {
			return err
		}
	}
	return nil
}

// callPiece calls fn, turning a memory fault into an error.
func callPiece(fn func(worker, piece int) error, w, p int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if isFault(r) {
				err = fmt.Errorf("reading a memory-mapped model file failed (was it changed or truncated during the merge?): %v", r)
				return
			}
			panic(r)
		}
	}()
	return fn(w, p)
}

// forPieces calls fn for pieces 0…pieces−1 on up to workers goroutines;
// each goroutine takes the lowest piece not yet taken, so a piece never
// waits in a turnstile for one that has not started. On the first error
// the abort channel is closed, the remaining pieces are skipped, and that
// error is returned. Cancelling ctx is such an error, seen before each
// piece.
func forPieces(ctx context.Context, pieces, workers int, abort chan struct{}, fn func(worker, piece int) error) error {
	return (*crew)(nil).forPieces(ctx, pieces, workers, abort, fn)
}

// forPieces is forPieces with the crew's idle threads as the workers
// beyond the first: the calling goroutine is worker 0, and up to
// workers−1 threads of c join while pieces are left (none may, when
// every thread has a task of its own). A nil crew starts the workers.
func (c *crew) forPieces(ctx context.Context, pieces, workers int, abort chan struct{}, fn func(worker, piece int) error) error {
	workers = max(1, min(workers, pieces))
	l := &pieceLoop{pieces: pieces, slots: workers}
	var (
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() {
			firstErr = err
			close(abort)
		})
	}
	l.work = func(w int) {
		// Inputs may be mapped files: a fault reading one (the file was
		// truncated under us) becomes an error instead of a crash.
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		for {
			p := int(l.next.Add(1) - 1)
			if p >= pieces {
				return
			}
			select {
			case <-abort:
				return
			default:
			}
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			if err := callPiece(fn, w, p); err != nil {
				if !errors.Is(err, errAborted) {
					fail(err)
				}
				return
			}
		}
	}
	switch {
	case workers == 1:
		l.work(0)
	case c != nil:
		c.offer(l)
		l.work(0)
		c.withdraw(l)
	default:
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.work(w)
			}()
		}
		wg.Wait()
	}
	return firstErr
}
