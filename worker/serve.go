package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// Queue names: streams <Queue>_JOBS and <Queue>_RESULTS on subjects
// <queue>.jobs and <queue>.results, and the workers' durable consumer.
const (
	// DefaultQueue is the queue name when none is given.
	DefaultQueue   = "GOMERGE"
	workersDurable = "workers"
	coordDurable   = "coordinator"
)

func jobsStream(q string) string    { return q + "_JOBS" }
func resultsStream(q string) string { return q + "_RESULTS" }
func jobsSubject(q string) string   { return q + ".jobs" }
func resultsSubject(q string) string {
	return q + ".results"
}

// ServeOptions tune Serve.
type ServeOptions struct {
	// Options are the evaluator's.
	Options
	// Workers is how many jobs this process scores at once (default 1).
	Workers int
	// Queue names the work queue (default DefaultQueue); it must match
	// the coordinator's.
	Queue string
}

// Serve connects to the NATS server at url and scores the jobs of the
// coordinator's work queue until ctx is done. It waits for the queue to
// exist. While a job runs, it tells the server every third of the ack
// wait that the job is in progress; a job cut short by ctx is Nak'd, so
// that another worker takes it at once. A worker that dies has its job
// redelivered one ack wait after its last heartbeat.
func Serve(ctx context.Context, url string, opt ServeOptions) error {
	nc, err := nats.Connect(url, nats.Name("gomerge worker "+opt.name()), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("worker: connect %s: %w", url, err)
	}
	defer nc.Close()
	return serve(ctx, nc, opt, Evaluate)
}

// serve runs opt.Workers job loops on nc.
func serve(ctx context.Context, nc *nats.Conn, opt ServeOptions, fn evalFunc) error {
	if opt.Queue == "" {
		opt.Queue = DefaultQueue
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	cons, err := waitConsumer(ctx, js, opt.Queue, opt.logger())
	if err != nil || cons == nil {
		return err // cons is nil when ctx ended first
	}
	n := max(opt.Workers, 1)
	if opt.Cache == nil {
		opt.Cache = NewCache(1)
	}
	if opt.Threads <= 0 {
		opt.Threads = max(1, runtime.GOMAXPROCS(0)/n)
	}
	name := opt.name()
	g, ctx := errgroup.WithContext(ctx)
	for i := range n {
		o := opt.Options
		o.Name = name
		if n > 1 {
			o.Name = fmt.Sprintf("%s-%d", name, i)
		}
		g.Go(func() error { return jobLoop(ctx, js, cons, opt.Queue, o, fn) })
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// waitConsumer binds to the workers' consumer, waiting for the
// coordinator to create it.
func waitConsumer(ctx context.Context, js jetstream.JetStream, queue string, log *slog.Logger) (jetstream.Consumer, error) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		cons, err := js.Consumer(ctx, jobsStream(queue), workersDurable)
		if err == nil {
			return cons, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("worker: queue %s: %w", queue, err)
		}
		log.Info("waiting for the coordinator's queue", "queue", queue)
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(wait):
		}
	}
}

// jobLoop takes jobs one at a time until ctx is done.
func jobLoop(ctx context.Context, js jetstream.JetStream, cons jetstream.Consumer, queue string, opt Options, fn evalFunc) error {
	log := opt.logger()
	ackWait := cons.CachedInfo().Config.AckWait
	for ctx.Err() == nil {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		switch {
		case ctx.Err() != nil:
			if msg != nil {
				msg.Nak()
			}
			return nil
		case errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages):
			continue
		case errors.Is(err, nats.ErrConnectionClosed):
			return fmt.Errorf("worker: %w", err)
		case err != nil:
			log.Warn("fetch", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if err := runJob(ctx, js, msg, queue, ackWait, opt, fn); err != nil {
			log.Warn("job", "err", err)
		}
	}
	return nil
}

// runJob scores one delivered job, heartbeating while it runs, publishes
// its result and acks it.
func runJob(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, queue string, ackWait time.Duration, opt Options, fn evalFunc) error {
	var job Job
	attempt := 1
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	var res Result
	if err := json.Unmarshal(msg.Data(), &job); err != nil || job.ID == "" {
		// Unreadable: answer under the id it was queued with, once.
		id := msg.Headers().Get(jetstream.MsgIDHeader)
		if id == "" {
			return errors.Join(fmt.Errorf("job without an id: %v", err), msg.Term())
		}
		res = Result{ID: id, Worker: opt.name(), Err: fmt.Sprintf("job %s: undecodable: %v", id, err)}
	} else {
		stop := heartbeat(msg, ackWait)
		res = fn(ctx, job, opt)
		stop()
		if ctx.Err() != nil {
			// Shut down mid-job: let another worker have it now.
			return msg.Nak()
		}
	}
	res.Attempt = attempt
	data, err := json.Marshal(res)
	if err != nil {
		return errors.Join(err, msg.Nak())
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := js.Publish(pctx, resultsSubject(queue), data, jetstream.WithMsgID("res-"+res.ID)); err != nil {
		return errors.Join(fmt.Errorf("job %s: publish result: %w", res.ID, err), msg.Nak())
	}
	return msg.DoubleAck(pctx)
}

// heartbeat tells the server every third of ackWait that msg is still
// being worked on, until stop is called.
func heartbeat(msg jetstream.Msg, ackWait time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	every := max(ackWait/3, 10*time.Millisecond)
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()
	return func() { close(done); <-finished }
}
