package merge

import (
	"context"
	"sync"
	"sync/atomic"
)

// crew is the executor's threads when it merges a plan's tasks. Each
// thread starts tasks in order while the memory budget allows and merges
// its task's pieces by itself; a thread with no task to start joins the
// piece loop of a running task that has the most pieces left, as one of
// that task's workers. So tensors merge side by side, one thread each,
// for as long as there are tensors to start: no per-worker buffers and
// method state beyond one set per thread, no pieces waiting for each other
// in order (InOrder, the ordered writes) and no thread left idle while a
// task goes through the serial parts of its analysis; and at the end, and
// beside a task that must run alone, every thread still has work.
type crew struct {
	threads int
	budget  int64 // bytes of buffers in flight, over the running tasks' costs
	// slack is the cost up to which a task may start before the next one
	// in order, when that one does not fit the budget and it does: small
	// tensors then fill the threads that a large one, holding most of the
	// budget, leaves idle in its serial parts (sampling, the end of a
	// pass, its last writes and unmapping).
	slack int64

	mu       sync.Mutex
	tasks    []*Task
	costs    []int64
	begun    []bool
	next     int   // the first task not begun
	finished int   // tasks done
	inUse    int64 // the running tasks' costs
	open     []*pieceLoop
	wake     chan struct{} // closed (and replaced) when something changes
}

// pieceLoop is the pieces of one pass over a task's pieces, open to
// helpers while it has some left.
type pieceLoop struct {
	next   atomic.Int64 // the next piece to take
	pieces int
	slots  int // workers the task was planned with: the owner and slots−1 helpers
	joined int // helpers so far (crew.mu)
	wg     sync.WaitGroup
	work   func(worker int)
}

func newCrew(threads int, budget int64, tasks []*Task, costs []int64) *crew {
	return &crew{threads: threads, budget: budget, slack: budget / crewSlack, tasks: tasks, costs: costs,
		begun: make([]bool, len(tasks)), wake: make(chan struct{})}
}

// crewSlack is budget/slack: an eighth of the budget, which
// Plan.defaultBudget adds above the costliest task.
const crewSlack = 8

// pick returns the task to start: the next in order if it fits the
// budget, else the first after it that costs at most the slack and fits;
// -1 if none. c.mu held.
func (c *crew) pick() int {
	if c.next >= len(c.tasks) {
		return -1
	}
	if c.inUse+c.costs[c.next] <= c.budget {
		return c.next
	}
	for j := c.next + 1; j < len(c.tasks); j++ {
		if !c.begun[j] && c.costs[j] <= c.slack && c.inUse+c.costs[j] <= c.budget {
			return j
		}
	}
	return -1
}

// signal wakes the threads that wait for something to change; c.mu held.
func (c *crew) signal() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// taskFunc runs one task. It may call release once the task's remaining
// work is mostly waiting (its last piece written to the disk): the thread
// then goes on with other work while the task finishes in its own
// goroutine.
type taskFunc func(ctx context.Context, t *Task, release func()) error

// run runs the threads until every task is done or one fails; do runs one
// task, started is called (outside the lock) with the index of each task
// as it starts. It returns once every task has returned.
func (c *crew) run(ctx context.Context, do taskFunc, started func(i int)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var threads, tasks sync.WaitGroup
	for range c.threads {
		threads.Go(func() { c.thread(ctx, cancel, &tasks, do, started) })
	}
	threads.Wait()
	tasks.Wait()
	return context.Cause(ctx)
}

func (c *crew) thread(ctx context.Context, fail context.CancelCauseFunc, tasks *sync.WaitGroup, do taskFunc, started func(i int)) {
	for {
		if ctx.Err() != nil {
			return // the error is the cause
		}
		c.mu.Lock()
		if c.finished == len(c.tasks) {
			c.mu.Unlock()
			return
		}
		if i := c.pick(); i >= 0 {
			c.begun[i] = true
			for c.next < len(c.tasks) && c.begun[c.next] {
				c.next++
			}
			c.inUse += c.costs[i]
			c.mu.Unlock()
			started(i)
			// The task runs in a goroutine of its own, and this thread
			// waits for it until it returns or releases the thread.
			free := make(chan struct{})
			var once sync.Once
			release := func() { once.Do(func() { close(free) }) }
			tasks.Go(func() {
				defer release()
				if err := do(ctx, c.tasks[i], release); err != nil {
					fail(err) // before the task counts as finished
				}
				c.mu.Lock()
				c.inUse -= c.costs[i]
				c.finished++
				c.signal()
				c.mu.Unlock()
			})
			<-free
			continue
		}
		if l, w := c.join(); l != nil {
			c.mu.Unlock()
			l.work(w)
			l.wg.Done()
			continue
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// join picks the open loop with the most pieces left and a free worker
// slot, joins it and returns it with the helper's worker index; c.mu held.
func (c *crew) join() (*pieceLoop, int) {
	var best *pieceLoop
	var left int64
	for _, l := range c.open {
		if n := int64(l.pieces) - l.next.Load(); l.joined+1 < l.slots && n > left {
			best, left = l, n
		}
	}
	if best == nil {
		return nil, 0
	}
	best.joined++
	best.wg.Add(1)
	return best, best.joined
}

// offer opens l to helpers.
func (c *crew) offer(l *pieceLoop) {
	c.mu.Lock()
	c.open = append(c.open, l)
	c.signal()
	c.mu.Unlock()
}

// withdraw closes l to helpers and waits for those that joined.
func (c *crew) withdraw(l *pieceLoop) {
	c.mu.Lock()
	for i, o := range c.open {
		if o == l {
			c.open = append(c.open[:i], c.open[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	l.wg.Wait()
}
