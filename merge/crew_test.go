package merge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func crewTasks(n int) []*Task {
	ts := make([]*Task, n)
	for i := range ts {
		ts[i] = &Task{Name: fmt.Sprintf("t%d", i)}
	}
	return ts
}

// TestCrewHelpersJoin: a thread with no task to start joins the pieces of
// the running one. Worker 0 holds its first piece until a helper has run
// one, so the test hangs (and times out) if no helper ever joins.
func TestCrewHelpersJoin(t *testing.T) {
	for _, threads := range []int{2, 3, 4} {
		t.Run(fmt.Sprint(threads), func(t *testing.T) {
			const pieces = 64
			tasks := crewTasks(1)
			c := newCrew(threads, 1, tasks, []int64{1})
			var (
				ran     [pieces]atomic.Int32
				helped  = make(chan struct{})
				once    sync.Once
				workers sync.Map
			)
			err := c.run(context.Background(), func(ctx context.Context, _ *Task, _ func()) error {
				return c.forPieces(ctx, pieces, threads, make(chan struct{}), func(w, p int) error {
					if w < 0 || w >= threads {
						return fmt.Errorf("worker %d of %d", w, threads)
					}
					if _, busy := workers.LoadOrStore(w, p); busy {
						return fmt.Errorf("worker %d runs two pieces at once", w)
					}
					defer workers.Delete(w)
					ran[p].Add(1)
					if w == 0 {
						<-helped
					} else {
						once.Do(func() { close(helped) })
					}
					return nil
				})
			}, func(int) {})
			if err != nil {
				t.Fatal(err)
			}
			for p := range ran {
				if n := ran[p].Load(); n != 1 {
					t.Errorf("piece %d ran %d times", p, n)
				}
			}
		})
	}
}

// TestCrewBudget: tasks start in order, and never together when their
// costs add up to more than the budget.
func TestCrewBudget(t *testing.T) {
	tests := []struct {
		costs       []int64
		budget      int64
		threads     int
		maxTogether int32
	}{
		{[]int64{60, 60, 60, 60}, 100, 3, 1},
		{[]int64{50, 50, 50, 50, 50}, 100, 3, 2},
		{[]int64{10, 10, 10, 10, 10, 10}, 100, 2, 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.costs, tt.budget), func(t *testing.T) {
			tasks := crewTasks(len(tt.costs))
			c := newCrew(tt.threads, tt.budget, tasks, tt.costs)
			var running, most, ran atomic.Int32
			idx := map[*Task]int{}
			for i, tk := range tasks {
				idx[tk] = i
			}
			err := c.run(context.Background(), func(_ context.Context, tk *Task, _ func()) error {
				ran.Add(1)
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				// Tasks begin in order (none is within the slack and
				// fits where the one before it does not). The crew's
				// record, not the started callbacks, which run outside
				// its lock in any order.
				c.mu.Lock()
				for j := range idx[tk] {
					if !c.begun[j] {
						t.Errorf("task %d began before task %d", idx[tk], j)
					}
				}
				c.mu.Unlock()
				running.Add(-1)
				return nil
			}, func(int) {})
			if err != nil {
				t.Fatal(err)
			}
			if most.Load() > tt.maxTogether {
				t.Errorf("%d tasks ran together, want at most %d", most.Load(), tt.maxTogether)
			}
			if int(ran.Load()) != len(tasks) {
				t.Errorf("%d of %d tasks ran", ran.Load(), len(tasks))
			}
		})
	}
}

// TestCrewError: the first task's error is the run's, and the threads
// stop, helpers included.
func TestCrewError(t *testing.T) {
	errBoom := errors.New("boom")
	tasks := crewTasks(8)
	costs := make([]int64, len(tasks))
	c := newCrew(2, 1, tasks, costs)
	err := c.run(context.Background(), func(ctx context.Context, tk *Task, _ func()) error {
		if tk.Name == "t3" {
			return errBoom
		}
		return c.forPieces(ctx, 16, 2, make(chan struct{}), func(int, int) error { return nil })
	}, func(int) {})
	if !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want %v", err, errBoom)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = newCrew(2, 1, crewTasks(2), make([]int64, 2))
	if err := c.run(ctx, func(context.Context, *Task, func()) error { return nil }, func(int) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

// TestCrewRelease: a task that releases its thread lets it start the next
// task while it finishes. With one thread, the first task waits for the
// second to start, so the test hangs if release does not free the thread.
func TestCrewRelease(t *testing.T) {
	tasks := crewTasks(3)
	c := newCrew(1, 1, tasks, make([]int64, len(tasks)))
	second := make(chan struct{})
	var done atomic.Int32
	err := c.run(context.Background(), func(_ context.Context, tk *Task, release func()) error {
		defer done.Add(1)
		switch tk.Name {
		case "t0":
			release()
			<-second
		case "t1":
			close(second)
		}
		return nil
	}, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	if n := done.Load(); n != int32(len(tasks)) {
		t.Errorf("run returned with %d of %d tasks done", n, len(tasks))
	}
}

// TestCrewSlack: while a large task holds most of the budget and the next
// large one cannot start, small tasks (at most the slack, an eighth of the
// budget) start ahead of it on the idle thread; the budget is never
// exceeded, a task larger than the slack never starts before the ones
// ahead of it, and every task runs once. The first task holds on until a
// small one has run, so the test hangs (and times out) if none is started
// ahead. The checks read the crew's own record of begun tasks: the
// started callbacks run outside its lock, in any order.
func TestCrewSlack(t *testing.T) {
	costs := []int64{60, 60, 30, 10, 10, 10, 5, 80}
	tasks := crewTasks(len(costs))
	c := newCrew(2, 100, tasks, costs)
	if c.slack != 12 {
		t.Fatalf("slack %d, want an eighth of 100", c.slack)
	}
	var (
		mu      sync.Mutex
		inUse   int64
		ran     = map[string]int{}
		ahead   int // small tasks that ran before task 1 had begun
		smallOK = make(chan struct{})
		once    sync.Once
	)
	idx := map[*Task]int{}
	for i, tk := range tasks {
		idx[tk] = i
	}
	begun := func(i int) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.begun[i]
	}
	err := c.run(context.Background(), func(_ context.Context, tk *Task, _ func()) error {
		i := idx[tk]
		mu.Lock()
		inUse += costs[i]
		if inUse > 100 {
			t.Errorf("tasks of %d bytes at once, budget 100", inUse)
		}
		ran[tk.Name]++
		mu.Unlock()
		if costs[i] > 12 {
			// Every task ahead of a large one has begun.
			for j := range i {
				if !begun(j) {
					t.Errorf("task %d (cost %d) began before task %d", i, costs[i], j)
				}
			}
		}
		switch {
		case i == 0:
			<-smallOK
		case costs[i] <= 12:
			if !begun(1) {
				mu.Lock()
				ahead++
				mu.Unlock()
			}
			once.Do(func() { close(smallOK) })
		}
		mu.Lock()
		inUse -= costs[i]
		mu.Unlock()
		return nil
	}, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		if ran[tk.Name] != 1 {
			t.Errorf("%s ran %d times", tk.Name, ran[tk.Name])
		}
	}
	if ahead == 0 {
		t.Error("no small task ran before task 1 began")
	}
}
