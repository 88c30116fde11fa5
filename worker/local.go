package worker

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// evalFunc scores one job; tests swap in slow or failing ones.
type evalFunc func(ctx context.Context, job Job, opt Options) Result

// localPool runs evaluators as goroutines of this process, over an
// in-memory queue.
type localPool struct {
	opt     Options
	eval    evalFunc
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	results chan Result
	ready   chan struct{} // a job was queued

	mu        sync.Mutex
	queue     []Job
	submitted map[string]bool
	closed    bool
}

// NewLocal returns a pool of n evaluators running in this process (at
// least one). Each forward pass gets GOMAXPROCS/n threads unless
// opt.Threads says otherwise, and the evaluators share opt.Cache (a
// one-model cache when nil). A job whose ID was submitted before is
// dropped, so each ID has one result. Nothing is durable: Close drops
// the jobs not yet scored.
func NewLocal(n int, opt Options) Pool {
	return newLocal(n, opt, Evaluate)
}

func newLocal(n int, opt Options, fn evalFunc) *localPool {
	n = max(n, 1)
	if opt.Threads <= 0 {
		opt.Threads = max(1, runtime.GOMAXPROCS(0)/n)
	}
	if opt.Cache == nil {
		opt.Cache = NewCache(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &localPool{opt: opt, eval: fn, ctx: ctx, cancel: cancel, results: make(chan Result, n),
		ready: make(chan struct{}, 1), submitted: map[string]bool{}}
	for i := range n {
		o := opt
		if o.Name == "" {
			o.Name = fmt.Sprintf("local-%d", i)
		} else {
			o.Name = fmt.Sprintf("%s-%d", o.Name, i)
		}
		p.wg.Add(1)
		go p.run(o)
	}
	return p
}

// Submit queues j; a job whose ID was submitted before is dropped.
func (p *localPool) Submit(ctx context.Context, j Job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	if p.submitted[j.ID] {
		return nil
	}
	p.submitted[j.ID] = true
	p.queue = append(p.queue, j)
	p.signal()
	return nil
}

// signal wakes one waiting evaluator; the caller holds p.mu.
func (p *localPool) signal() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// next takes the oldest queued job, waiting for one; false once closed.
func (p *localPool) next() (Job, bool) {
	for {
		p.mu.Lock()
		if len(p.queue) > 0 {
			j := p.queue[0]
			p.queue = p.queue[1:]
			if len(p.queue) > 0 {
				p.signal() // wake the next evaluator for the rest
			}
			p.mu.Unlock()
			return j, true
		}
		p.mu.Unlock()
		select {
		case <-p.ready:
		case <-p.ctx.Done():
			return Job{}, false
		}
	}
}

func (p *localPool) run(opt Options) {
	defer p.wg.Done()
	for {
		j, ok := p.next()
		if !ok {
			return
		}
		r := p.eval(p.ctx, j, opt)
		if p.ctx.Err() != nil {
			return // closed mid-job: the result may be a cancellation
		}
		select {
		case p.results <- r:
		case <-p.ctx.Done():
			return
		}
	}
}

// Results delivers each job's result once; it is closed by Close.
func (p *localPool) Results() <-chan Result { return p.results }

// Close stops the evaluators, drops the queued jobs and closes Results.
func (p *localPool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.queue = nil
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	close(p.results)
	return nil
}
