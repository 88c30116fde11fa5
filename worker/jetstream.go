package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStreamOptions configure NewJetStream.
type JetStreamOptions struct {
	// StoreDir holds the embedded server's JetStream files: queued jobs,
	// unread results and the consumers' state survive a restart on the
	// same directory. Required unless URL is set.
	StoreDir string
	// Listen, "HOST:PORT", exposes the embedded server so that `gomerge
	// worker` processes elsewhere can join (port 0 picks a free one; see
	// URL). "" keeps it in-process.
	Listen string
	// URL is an external NATS server with JetStream; "" embeds one.
	URL string
	// LocalWorkers evaluators run in this process, on the same queue.
	LocalWorkers int
	// Worker are the local evaluators' options.
	Worker Options
	// Queue names the streams and subjects (default DefaultQueue); workers
	// must use the same.
	Queue string
	// AckWait is how long a job may go without a heartbeat before it is
	// redelivered (default 1 minute); workers heartbeat every third of
	// it.
	AckWait time.Duration
	// MaxDeliver bounds the deliveries of a job (default 5); a job that
	// reaches it gets an error result.
	MaxDeliver int
	// DedupWindow is how long a job ID or result is remembered to drop a
	// duplicate (default 24 hours).
	DedupWindow time.Duration
	// Logger receives the pool's log lines; nil discards.
	Logger *slog.Logger
}

// JetStream is a pool whose jobs and results are NATS JetStream streams.
// It implements Pool.
type JetStream struct {
	opt     JetStreamOptions
	log     *slog.Logger
	ns      *server.Server // nil with an external server
	nc      *nats.Conn
	js      jetstream.JetStream
	url     string
	results chan Result
	done    chan struct{}
	cc      jetstream.ConsumeContext
	adv     *nats.Subscription
	cancel  context.CancelFunc // stops the local workers
	wg      sync.WaitGroup     // local workers
	evalFn  evalFunc
	// ncClosed is closed when nc is: the end of a Drain.
	ncClosed chan struct{}

	mu     sync.Mutex
	seen   map[string]bool // results delivered
	closed bool
	once   sync.Once
}

var _ Pool = (*JetStream)(nil)

// NewJetStream starts a JetStream pool: an embedded NATS server with
// JetStream file storage under StoreDir (or a connection to URL), a
// work-queue stream of jobs that workers share through one durable
// consumer, and a stream of results read by the coordinator's durable
// consumer. Jobs are deduplicated on submit by ID (Nats-Msg-Id), results
// by job ID.
func NewJetStream(ctx context.Context, opt JetStreamOptions) (*JetStream, error) {
	return newJetStream(ctx, opt, Evaluate)
}

func newJetStream(ctx context.Context, opt JetStreamOptions, fn evalFunc) (*JetStream, error) {
	if opt.Queue == "" {
		opt.Queue = DefaultQueue
	}
	if opt.AckWait <= 0 {
		opt.AckWait = time.Minute
	}
	if opt.MaxDeliver <= 0 {
		opt.MaxDeliver = 5
	}
	if opt.DedupWindow <= 0 {
		opt.DedupWindow = 24 * time.Hour
	}
	p := &JetStream{opt: opt, log: opt.Logger, results: make(chan Result), done: make(chan struct{}),
		seen: map[string]bool{}, evalFn: fn, ncClosed: make(chan struct{})}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if err := p.connect(); err != nil {
		p.shutdown()
		return nil, err
	}
	if err := p.setup(ctx); err != nil {
		p.shutdown()
		return nil, err
	}
	p.startWorkers()
	return p, nil
}

// connect starts the embedded server, or dials URL.
func (p *JetStream) connect() error {
	var err error
	if p.opt.URL != "" {
		p.url = p.opt.URL
		p.nc, err = nats.Connect(p.opt.URL, nats.Name("gomerge coordinator"), nats.MaxReconnects(-1), p.onClose())
		if err != nil {
			return fmt.Errorf("worker: connect %s: %w", p.opt.URL, err)
		}
		return nil
	}
	if p.opt.StoreDir == "" {
		return errors.New("worker: JetStream pool needs a store directory or a server URL")
	}
	so := &server.Options{ServerName: "gomerge", JetStream: true, StoreDir: p.opt.StoreDir,
		NoLog: true, NoSigs: true, DontListen: p.opt.Listen == ""}
	if p.opt.Listen != "" {
		host, port, err := net.SplitHostPort(p.opt.Listen)
		if err != nil {
			return fmt.Errorf("worker: listen %q: %w", p.opt.Listen, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("worker: listen %q: bad port", p.opt.Listen)
		}
		if n == 0 {
			n = server.RANDOM_PORT
		}
		so.Host, so.Port = host, n
	}
	if p.ns, err = server.NewServer(so); err != nil {
		return fmt.Errorf("worker: NATS server: %w", err)
	}
	p.ns.Start()
	if !p.ns.ReadyForConnections(30 * time.Second) {
		return fmt.Errorf("worker: NATS server on %s did not start", p.opt.StoreDir)
	}
	if p.opt.Listen != "" {
		if a, ok := p.ns.Addr().(*net.TCPAddr); ok {
			p.url = "nats://" + net.JoinHostPort(so.Host, strconv.Itoa(a.Port))
		}
	}
	p.nc, err = nats.Connect(p.ns.ClientURL(), nats.InProcessServer(p.ns), nats.Name("gomerge coordinator"), p.onClose())
	if err != nil {
		return fmt.Errorf("worker: connect in-process: %w", err)
	}
	return nil
}

func (p *JetStream) onClose() nats.Option {
	return nats.ClosedHandler(func(*nats.Conn) { close(p.ncClosed) })
}

// setup creates or updates the streams and consumers and starts reading
// results.
func (p *JetStream) setup(ctx context.Context) error {
	q := p.opt.Queue
	var err error
	if p.js, err = jetstream.New(p.nc); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	streams := []jetstream.StreamConfig{
		{Name: jobsStream(q), Subjects: []string{jobsSubject(q)}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, Duplicates: p.opt.DedupWindow},
		{Name: resultsStream(q), Subjects: []string{resultsSubject(q)}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, Duplicates: p.opt.DedupWindow},
	}
	for _, sc := range streams {
		if _, err := p.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("worker: stream %s: %w", sc.Name, err)
		}
	}
	if _, err := p.js.CreateOrUpdateConsumer(ctx, jobsStream(q), jetstream.ConsumerConfig{
		Durable: workersDurable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: p.opt.AckWait,
		MaxDeliver: p.opt.MaxDeliver, MaxAckPending: -1}); err != nil {
		return fmt.Errorf("worker: consumer %s: %w", workersDurable, err)
	}
	cons, err := p.js.CreateOrUpdateConsumer(ctx, resultsStream(q), jetstream.ConsumerConfig{
		Durable: coordDurable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: -1})
	if err != nil {
		return fmt.Errorf("worker: consumer %s: %w", coordDurable, err)
	}
	// A job that used its deliveries up stays in the work queue, never
	// delivered again: answer it with an error result and drop it.
	adv := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + jobsStream(q) + "." + workersDurable
	if p.adv, err = p.nc.Subscribe(adv, p.maxDeliveries); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	p.cc, err = cons.Consume(p.receive, jetstream.PullMaxMessages(4))
	if err != nil {
		return fmt.Errorf("worker: consume results: %w", err)
	}
	return nil
}

// startWorkers runs the local evaluators on the in-process connection.
func (p *JetStream) startWorkers() {
	if p.opt.LocalWorkers <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	o := ServeOptions{Options: p.opt.Worker, Workers: p.opt.LocalWorkers, Queue: p.opt.Queue}
	if o.Name == "" {
		o.Name = "local"
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := serve(ctx, p.nc, o, p.evalFn); err != nil {
			p.log.Error("local workers", "err", err)
		}
	}()
}

// URL is where workers connect: the embedded server's address when it
// listens, or the external URL; "" when the server is in-process only.
func (p *JetStream) URL() string { return p.url }

// Submit queues j durably; a job ID already queued within the dedup
// window is not queued again.
func (p *JetStream) Submit(ctx context.Context, j Job) error {
	if j.ID == "" {
		return errors.New("worker: job without an ID")
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return errClosed
	}
	data, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("worker: job %s: %w", j.ID, err)
	}
	if _, err := p.js.Publish(ctx, jobsSubject(p.opt.Queue), data, jetstream.WithMsgID(j.ID)); err != nil {
		return fmt.Errorf("worker: submit job %s: %w", j.ID, err)
	}
	return nil
}

// receive hands a result to Results once per job ID, and acks it once
// handed over (so a result the caller never took is read again after a
// restart).
func (p *JetStream) receive(msg jetstream.Msg) {
	var r Result
	if err := json.Unmarshal(msg.Data(), &r); err != nil || r.ID == "" {
		p.log.Warn("unreadable result dropped", "err", err)
		msg.Term()
		return
	}
	p.mu.Lock()
	dup := p.seen[r.ID]
	p.mu.Unlock()
	if dup {
		msg.Ack()
		return
	}
	select {
	case p.results <- r:
		p.mu.Lock()
		p.seen[r.ID] = true
		p.mu.Unlock()
		msg.Ack()
	case <-p.done:
		// Not handed over: left unacked for the next coordinator.
	}
}

// maxDeliveries turns a job that exhausted its deliveries into an error
// result and removes it from the queue.
func (p *JetStream) maxDeliveries(m *nats.Msg) {
	var adv struct {
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries uint64 `json:"deliveries"`
	}
	if err := json.Unmarshal(m.Data, &adv); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := p.js.Stream(ctx, jobsStream(p.opt.Queue))
	if err != nil {
		return
	}
	msg, err := raw.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		return
	}
	id := msg.Header.Get(jetstream.MsgIDHeader)
	if id == "" {
		var j Job
		json.Unmarshal(msg.Data, &j)
		id = j.ID
	}
	res := Result{ID: id, Worker: "coordinator", Attempt: int(adv.Deliveries),
		Err: fmt.Sprintf("job %s: no worker finished it in %d deliveries", id, adv.Deliveries)}
	data, _ := json.Marshal(res)
	if _, err := p.js.Publish(ctx, resultsSubject(p.opt.Queue), data, jetstream.WithMsgID("res-"+id)); err != nil {
		p.log.Error("max deliveries", "job", id, "err", err)
		return
	}
	raw.DeleteMsg(ctx, adv.StreamSeq)
}

// Results delivers each job's result once; it is closed by Close.
func (p *JetStream) Results() <-chan Result { return p.results }

// Close stops the local workers (their jobs in flight go back to the
// queue), stops reading results, and shuts the embedded server down;
// queued jobs and unread results stay in StoreDir.
func (p *JetStream) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.shutdown()
	return nil
}

func (p *JetStream) shutdown() {
	p.once.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
		p.wg.Wait()
		close(p.done)
		if p.cc != nil {
			p.cc.Stop()
			<-p.cc.Closed()
		}
		if p.adv != nil {
			p.adv.Unsubscribe()
		}
		if p.nc != nil {
			if err := p.nc.Drain(); err == nil {
				<-p.ncClosed
			}
			p.nc.Close()
		}
		if p.ns != nil {
			p.ns.Shutdown()
			p.ns.WaitForShutdown()
		}
		close(p.results)
	})
}
